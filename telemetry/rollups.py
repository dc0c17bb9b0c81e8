"""Rollups: per-topic 1-minute and 1-hour aggregates that keep long-range queries fast.

Each topic has a state (``RollupState`` in SQL, ``rollup_state`` in Mongo): a ``watermark``
below which its rollups are complete, and ``dirty_since``, lowered by the ingest path in the
same transaction as a late reading (one whose timestamp is below the watermark). The
rollup job walks each topic from ``min(watermark, dirty_since)`` up to a cutoff a little
behind the clock, one window at a time, each window in one transaction that rewrites the
minute and hour rows of the window and moves the state; re-running a window rewrites the
same rows. Queries trust rollups only below ``valid_until`` (watermark, or the start of
the minute of ``dirty_since``), so a result never misses a reading: buckets the rollups
cannot answer whole are aggregated from raw readings.

All instants here are integer microseconds since the epoch (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings

MINUTE_US = 60_000_000
HOUR_US = 3600 * 1_000_000
# A catch-up (first run, or after downtime) is split into windows of this size, so one
# transaction aggregates at most a day of one topic.
WINDOW_US = 24 * HOUR_US
# Minutes are rolled up only this long after they end: the ingester commits batches within
# a fraction of a second, so few readings arrive late for a rolled-up minute.
SETTLE_US = 10_000_000
RESOLUTIONS = (60, 3600)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(ts: datetime) -> int:
    return (ts - _EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def floor_to(us: int, step: int) -> int:
    return us - us % step


def ceil_to(us: int, step: int) -> int:
    return -((-us) // step) * step


@dataclass(frozen=True, slots=True)
class TopicState:
    topic: str
    watermark: int | None
    dirty_since: int | None

    @property
    def valid_until(self) -> int | None:
        """Rollup buckets that end at or before this instant are complete and current."""
        if self.watermark is None:
            return None
        if self.dirty_since is None:
            return self.watermark
        return min(self.watermark, floor_to(self.dirty_since, MINUTE_US))


@dataclass(frozen=True, slots=True)
class Window:
    """[start, end) to re-aggregate from raw readings, and the state to store after it."""

    start: int
    end: int
    watermark: int
    dirty_since: int | None

    @property
    def hours(self) -> tuple[int, int]:
        """The complete hours whose minutes all lie below ``end``: rebuilt from minutes."""
        return floor_to(self.start, HOUR_US), floor_to(self.end, HOUR_US)


def next_window(
    state: TopicState, *, first_us: int | None, cutoff_us: int, raw_floor_us: int | None
) -> Window | None:
    """The next window the job has to aggregate for ``state``, or ``None`` when up to date.

    ``first_us`` is the topic's oldest reading (used before its first rollup),
    ``cutoff_us`` a minute boundary no window passes, ``raw_floor_us`` the start of the raw
    readings kept by retention: rollups below it are never rewritten (their raw rows are gone).
    """
    if state.watermark is None:
        if first_us is None:
            return None
        start = floor_to(first_us, MINUTE_US)
    else:
        start = state.watermark
        if state.dirty_since is not None:
            start = min(start, floor_to(state.dirty_since, MINUTE_US))
    if raw_floor_us is not None:
        start = max(start, ceil_to(raw_floor_us, HOUR_US))
    if start >= cutoff_us:
        if state.dirty_since is not None and state.watermark is not None:
            # The late readings are all below the raw floor: nothing left to re-aggregate.
            return Window(start, start, max(state.watermark, start), None)
        return None
    end = min(cutoff_us, floor_to(start, HOUR_US) + WINDOW_US)
    watermark = end if state.watermark is None else max(state.watermark, end)
    dirty = None
    if state.watermark is not None and state.dirty_since is not None and end < state.watermark:
        dirty = end  # the rest of the stale stretch, [end, old watermark), comes next
    return Window(start, end, watermark, dirty)


def cutoff_for(now: datetime) -> int:
    return floor_to(to_us(now) - SETTLE_US, MINUTE_US)


def raw_floor_for(now: datetime) -> int | None:
    days = settings.TELEMETRY_RAW_RETENTION_DAYS
    return to_us(now - timedelta(days=days)) if days else None


@dataclass(frozen=True, slots=True)
class AggregatePlan:
    """How to answer one aggregate query: raw ranges plus at most one rollup range.

    Every bucket comes whole from exactly one part, and the parts are in time order
    (head raw, rollups, tail raw), so their results are simply concatenated.
    """

    head: tuple[datetime | None, datetime] | None
    rollup: tuple[datetime | None, datetime, int] | None  # start, end, resolution seconds
    tail: tuple[datetime, datetime | None] | None

    @property
    def raw_ranges(self) -> list[tuple[datetime | None, datetime | None]]:
        return [part for part in (self.head, self.tail) if part is not None]


def aggregate_plan(
    *,
    start: datetime | None,
    end: datetime | None,
    bucket_seconds: int,
    valid_until_us: int | None,
) -> AggregatePlan | None:
    """Split [start, end) into raw and rollup parts; ``None`` means "all from raw readings".

    Rollups answer only buckets that are a whole number of minutes, lie entirely in the
    range and end at or before ``valid_until_us``.
    """
    if valid_until_us is None or bucket_seconds % RESOLUTIONS[0]:
        return None
    resolution = RESOLUTIONS[1] if bucket_seconds % RESOLUTIONS[1] == 0 else RESOLUTIONS[0]
    step = bucket_seconds * 1_000_000
    body_start = None if start is None else ceil_to(to_us(start), step)
    body_end = floor_to(valid_until_us, step)
    if end is not None:
        body_end = min(body_end, floor_to(to_us(end), step))
    if body_start is not None and body_start >= body_end:
        return None
    head = None
    if start is not None and to_us(start) < body_start:
        head = (start, from_us(body_start))
    tail = None
    if end is None or body_end < to_us(end):
        tail = (from_us(body_end), end)
    body = (None if body_start is None else from_us(body_start), from_us(body_end), resolution)
    return AggregatePlan(head=head, rollup=body, tail=tail)


def rollup_store():
    """The rollup side of the configured storage backend."""
    from telemetry.storage import get_storage

    storage = get_storage()
    if getattr(storage, "uses_django_database", False):
        from telemetry.storage.rollup_sql import SqlRollups

        return SqlRollups()
    from telemetry.storage.rollup_mongo import MongoRollups

    # One per storage (per Mongo client): creating it ensures the indexes, once.
    store = getattr(storage, "rollup_store", None)
    if store is None:
        store = storage.rollup_store = MongoRollups(storage)
    return store
