"""The storage interface every readings backend implements, and the records it returns.

A backend stores readings, dead letters and per-topic summaries. It knows nothing about
users or devices: authorization happens in ``telemetry.selectors`` before it is called.
Time ranges are half-open: ``start`` inclusive, ``end`` exclusive; ``None`` means unbounded.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from telemetry.records import AppendResult, DeadLetterIn, ReadingIn

AGGREGATES = ("avg", "min", "max", "count", "sum")


class StorageError(Exception):
    """The storage failed (connection lost, timeout, ...); the whole operation may be retried."""


class StorageRefused(StorageError):
    """The storage refused the data itself (a value it cannot encode, a constraint): the same
    data fails the same way every time, so retrying it only holds up everything after it."""


@dataclass(frozen=True, slots=True)
class Point:
    """One stored reading of a topic."""

    ts: datetime
    value: float | None
    text: str | None

    @property
    def shown(self) -> float | str | None:
        return self.value if self.value is not None else self.text


@dataclass(frozen=True, slots=True)
class TopicSummary:
    """A topic, its newest reading and its unit (``None``: no payload ever gave one)."""

    name: str
    device: str
    last_ts: datetime
    last_value: float | None
    last_text: str | None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Bucket:
    """Aggregates of the numeric readings of one time bucket (``start`` aligned to the epoch)."""

    start: datetime
    values: dict[str, float | int | None]


class Storage(Protocol):
    def append(
        self, *, readings: Sequence[ReadingIn], dead_letters: Sequence[DeadLetterIn]
    ) -> AppendResult:
        """Store a batch at once; a (topic, ts) already stored is skipped and counted.

        The readings that carry a ``unit`` set their topic's unit (the newest of the batch
        wins, whether or not it is newer than the topic's last reading); ``None`` leaves it."""

    def latest(self, *, topic: str) -> Point | None: ...

    def range(
        self,
        *,
        topic: str,
        start: datetime | None,
        end: datetime | None,
        descending: bool,
        limit: int,
    ) -> list[Point]:
        """Up to ``limit`` readings in [start, end), newest first when ``descending``."""

    def count(self, *, topic: str, start: datetime | None, end: datetime | None, cap: int) -> int:
        """Number of readings in [start, end), counting no further than ``cap``."""

    def aggregate(
        self,
        *,
        topic: str,
        start: datetime | None,
        end: datetime | None,
        bucket_seconds: int,
        aggregates: Sequence[str],
    ) -> list[Bucket]:
        """One row per non-empty bucket, oldest first, over numeric readings only."""

    def topic_list(self, *, devices: Collection[str] | None) -> list[TopicSummary]:
        """Summaries of the topics of ``devices`` (every topic when ``None``), by name."""

    def topic_get(self, *, topic: str) -> TopicSummary | None: ...

    def topics_known(self, *, names: Collection[str]) -> set[str]:
        """Which of ``names`` have a summary, i.e. had at least one reading stored."""

    def check(self) -> None:
        """Raise ``StorageError`` when the storage does not answer."""
