"""Plain records that cross the boundary between the ingester and telemetry storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# The longest stored topic (readings, topic summaries and dead letters keep it in a column of
# this length): the ingester dead-letters readings whose topic is longer.
TOPIC_MAX_LENGTH = 255
# A series name as the API accepts it (``/iot/<series>``) and the ingester stores it: the
# device name, then '.'-separated levels of letters, digits, '_' and '-'.
SERIES_PATTERN = r"[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64})*"


@dataclass(frozen=True, slots=True)
class ReadingIn:
    """One reading to store. ``ts`` is timezone-aware; exactly one of value/text is set."""

    topic: str
    ts: datetime
    value: float | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetterIn:
    """A message the ingester could not turn into readings, kept with the reason."""

    topic: str
    payload: bytes
    reason: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class AppendResult:
    stored: int
    duplicates: int
    dead_lettered: int
