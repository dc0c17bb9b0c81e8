"""Rollups: aggregates through the API equal the raw computation, on random data with late
readings, on both backends; windows are idempotent; the query plan splits ranges right."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from telemetry import selectors
from telemetry.records import ReadingIn
from telemetry.rollups import HOUR_US, MINUTE_US, TopicState, aggregate_plan, next_window, to_us
from telemetry.services import reading_bulk_append, rollup_refresh
from telemetry.tests.factories import T0, DeviceFactory, readings

pytestmark = pytest.mark.django_db(databases="__all__")

AGG = "avg,min,max,count,sum"
BUCKETS = ["1m", "5m", "1h", "2h", "90s", "17s", "1d"]


@pytest.fixture(params=["sql", pytest.param("mongo", marks=pytest.mark.mongo)])
def backend(request):
    """The whole app on each storage backend in turn."""
    if request.param == "mongo":
        request.getfixturevalue("mongo_backend")
    return request.param


@pytest.fixture
def staff(client_for):
    return client_for(user_id=99, is_staff=True)


def _random_readings(rng: random.Random, topic: str, start: datetime, hours: int):
    """Readings with irregular gaps (sub-second to minutes), microsecond stamps, a few texts.

    Values are multiples of 1/4, so every sum is exact in binary floating point and raw and
    rollup sums compare equal whatever order they are added in.
    """
    out, ts, end = [], start, start + timedelta(hours=hours)
    while ts < end:
        if rng.random() < 0.03:
            out.append(ReadingIn(topic=topic, ts=ts, text=rng.choice(["open", "shut"])))
        else:
            out.append(ReadingIn(topic=topic, ts=ts, value=rng.randrange(-400, 400) / 4))
        gap = rng.choice([0.3, 1, 1, 2, 5, 13, 61, 240])
        ts += timedelta(seconds=gap, microseconds=rng.randrange(1_000_000))
    return out


def _aggregate(client, topic: str, bucket: str, start=None, end=None) -> list[dict]:
    params = {"bucket": bucket, "agg": AGG, "order": "asc"}
    if start is not None:
        params["start"] = start.isoformat()
    if end is not None:
        params["end"] = end.isoformat()
    response = client.get(f"/iot/{topic}/readings", params)
    assert response.status_code == 200, response.content
    return response.json()["data"]


def _queries(rng: random.Random, start: datetime, hours: int):
    yield None, None
    yield start, start + timedelta(hours=hours)
    for _ in range(4):
        lo = start + timedelta(seconds=rng.uniform(-600, hours * 3600))
        hi = lo + timedelta(seconds=rng.uniform(1, hours * 3600))
        yield lo, hi
    yield start + timedelta(minutes=30), None
    yield None, start + timedelta(minutes=95, microseconds=7)


def _assert_same_as_raw(client, settings, rng, topic, hours):
    for lo, hi in _queries(rng, T0, hours):
        for bucket in BUCKETS:
            settings.TELEMETRY_AGG_USE_ROLLUPS = True
            with_rollups = _aggregate(client, topic, bucket, lo, hi)
            settings.TELEMETRY_AGG_USE_ROLLUPS = False
            raw = _aggregate(client, topic, bucket, lo, hi)
            assert with_rollups == raw, (bucket, lo, hi)
    settings.TELEMETRY_AGG_USE_ROLLUPS = True


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_aggregates_equal_raw_on_random_data_with_late_readings(backend, staff, settings, seed):
    rng = random.Random(seed)
    hours = 5
    topic = f"dev{seed}.temp"
    data = _random_readings(rng, topic, T0, hours)
    late = [r for r in data if rng.random() < 0.1]
    late_keys = {(r.ts, r.value, r.text) for r in late}
    on_time = [r for r in data if (r.ts, r.value, r.text) not in late_keys]

    # The ingester delivers on-time readings in batches while the job runs every ~10 min.
    next_refresh = T0 + timedelta(minutes=10)
    for i in range(0, len(on_time), 200):
        batch = on_time[i : i + 200]
        reading_bulk_append(readings=batch)
        if batch[-1].ts >= next_refresh:
            rollup_refresh(now=batch[-1].ts)
            next_refresh = batch[-1].ts + timedelta(minutes=10)
    rollup_refresh(now=T0 + timedelta(hours=hours, minutes=5))
    _assert_same_as_raw(staff, settings, rng, topic, hours)

    # Late readings land in windows already rolled up: answers stay exact before the job
    # has re-aggregated them (raw for the stale part) and after.
    rng.shuffle(late)
    reading_bulk_append(readings=late[: len(late) // 2])
    _assert_same_as_raw(staff, settings, rng, topic, hours)
    rollup_refresh(now=T0 + timedelta(hours=hours, minutes=6))
    reading_bulk_append(readings=late[len(late) // 2 :])
    rollup_refresh(now=T0 + timedelta(hours=hours, minutes=7))
    _assert_same_as_raw(staff, settings, rng, topic, hours)

    plan = selectors.reading_aggregate_plan(
        topic=topic, start=T0, end=T0 + timedelta(hours=hours), bucket_seconds=3600
    )
    assert plan is not None and plan.rollup is not None and plan.raw_ranges == []


def test_arbitrary_floats_agree_within_rounding(backend, staff, settings):
    """With arbitrary values only the order of additions differs: sums agree to rounding."""
    rng = random.Random(7)
    batch = [
        ReadingIn(topic="pi.x", ts=T0 + timedelta(seconds=i * 1.7), value=rng.gauss(20, 5))
        for i in range(6000)
    ]
    reading_bulk_append(readings=batch)
    rollup_refresh(now=T0 + timedelta(hours=4))

    with_rollups = _aggregate(staff, "pi.x", "1h")
    settings.TELEMETRY_AGG_USE_ROLLUPS = False
    raw = _aggregate(staff, "pi.x", "1h")

    assert [(b["date"], b["count"], b["min"], b["max"]) for b in with_rollups] == [
        (b["date"], b["count"], b["min"], b["max"]) for b in raw
    ]
    for ours, theirs in zip(with_rollups, raw, strict=True):
        assert ours["sum"] == pytest.approx(theirs["sum"], rel=1e-12)
        assert ours["avg"] == pytest.approx(theirs["avg"], rel=1e-12)


def test_long_range_answers_from_rollups_after_raw_readings_are_gone(backend, staff):
    DeviceFactory(name="pi", owner_id=1)
    reading_bulk_append(readings=readings("pi.temp", 7200, value=lambda i: i % 10))
    rollup_refresh(now=T0 + timedelta(hours=3))
    newest = readings("pi.temp", 1, start=T0 + timedelta(hours=2, minutes=30))
    reading_bulk_append(readings=newest)
    # Raw readings of the first two hours expire (retention), the hourly rollups stay.
    _raw_delete_before(T0 + timedelta(hours=2))

    body = _aggregate(staff, "pi.temp", "1h", T0, T0 + timedelta(hours=3))

    assert [(b["date"][11:16], b["count"], b["sum"]) for b in body] == [
        ("12:00", 3600, 16200.0),
        ("13:00", 3600, 16200.0),
        ("14:00", 1, 0.0),
    ]


def _raw_delete_before(instant: datetime) -> None:
    from django.conf import settings

    if settings.TELEMETRY_BACKEND == "mongo":
        from telemetry.storage import get_storage

        get_storage().readings.delete_many({"ts": {"$lt": instant}})
    else:
        from telemetry.models import Reading

        Reading.objects.filter(ts__lt=instant).delete()


def _rollup_rows(backend: str) -> list[tuple]:
    from telemetry.rollups import rollup_store

    store = rollup_store()
    if backend == "mongo":
        return sorted(
            (res, d["topic"], d["start"], d["count"], d["sum"], d["min"], d["max"])
            for res, c in store.rollups.items()
            for d in c.find({}, {"_id": 0})
        )
    from telemetry.models import RollupHour, RollupMinute

    fields = ("topic", "start", "count", "sum", "min", "max", "first_ts", "last_ts")
    return [(60, *row) for row in RollupMinute.objects.order_by("pk").values_list(*fields)] + [
        (3600, *row) for row in RollupHour.objects.order_by("pk").values_list(*fields)
    ]


def _state_reset(backend: str, topic: str, watermark: int) -> None:
    if backend == "mongo":
        from telemetry.rollups import rollup_store

        rollup_store().states.update_one({"_id": topic}, {"$set": {"watermark": watermark}})
    else:
        from telemetry.models import RollupState

        RollupState.objects.filter(topic=topic).update(watermark=watermark)


def test_rerunning_windows_rewrites_the_same_rows(backend):
    reading_bulk_append(readings=readings("pi.temp", 5000, step=timedelta(seconds=2)))
    first = rollup_refresh(now=T0 + timedelta(hours=4))
    rows = _rollup_rows(backend)
    again = rollup_refresh(now=T0 + timedelta(hours=4))
    _state_reset(backend, "pi.temp", to_us(T0))  # as if the windows had never been stored

    redo = rollup_refresh(now=T0 + timedelta(hours=4))

    assert first.windows >= 1 and again.windows == 0 and redo.windows == first.windows
    assert _rollup_rows(backend) == rows
    assert [r[3] for r in rows if r[0] == 3600] == [1800, 1800, 1400]


def test_only_late_readings_mark_a_topic_dirty(backend):
    from telemetry.rollups import rollup_store

    reading_bulk_append(readings=readings("pi.temp", 600))
    rollup_refresh(now=T0 + timedelta(minutes=20))
    clean = rollup_store().state(topic="pi.temp")
    reading_bulk_append(readings=readings("pi.temp", 5, start=T0 + timedelta(minutes=30)))
    still_clean = rollup_store().state(topic="pi.temp")
    late = T0 + timedelta(minutes=3, seconds=0.5)
    reading_bulk_append(readings=[ReadingIn(topic="pi.temp", ts=late, value=1.0)])
    dirty = rollup_store().state(topic="pi.temp")

    assert clean.watermark == to_us(T0 + timedelta(minutes=19)) and clean.dirty_since is None
    assert still_clean.dirty_since is None
    assert dirty.dirty_since == to_us(late)
    assert dirty.valid_until == to_us(T0 + timedelta(minutes=3))


# --- the plan, without a database -----------------------------------------------------
def _us(minutes: float) -> int:
    return to_us(T0) + int(minutes * MINUTE_US)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.django_db(databases=[])
def test_plan_uses_rollups_only_for_whole_covered_buckets():
    plan = aggregate_plan(
        start=_at(0.5), end=_at(200), bucket_seconds=3600, valid_until_us=_us(150)
    )

    assert plan.head == (_at(0.5), _at(60))
    assert plan.rollup == (_at(60), _at(120), 3600)
    assert plan.tail == (_at(120), _at(200))


@pytest.mark.django_db(databases=[])
@pytest.mark.parametrize(
    ("bucket", "valid", "start", "end"),
    [
        (90, _us(100), _at(0), _at(50)),  # not whole minutes
        (60, None, _at(0), _at(50)),  # never rolled up
        (3600, _us(100), _at(10), _at(100)),  # no whole hour inside the range
    ],
)
def test_plan_falls_back_to_raw(bucket, valid, start, end):
    assert aggregate_plan(start=start, end=end, bucket_seconds=bucket, valid_until_us=valid) is None


@pytest.mark.django_db(databases=[])
def test_windows_catch_up_a_day_at_a_time_and_revisit_late_readings():
    day = 24 * HOUR_US
    cutoff = _us(3 * 24 * 60 + 5)
    first = next_window(TopicState("t", None, None), first_us=_us(0.2), cutoff_us=cutoff,
                        raw_floor_us=None)  # fmt: skip
    assert (first.start, first.end, first.watermark) == (_us(0), _us(0) + day, _us(0) + day)

    caught_up = TopicState("t", cutoff, None)
    assert next_window(caught_up, first_us=None, cutoff_us=cutoff, raw_floor_us=None) is None

    late = TopicState("t", cutoff, _us(30.5))
    redo = next_window(late, first_us=None, cutoff_us=cutoff, raw_floor_us=None)
    assert (redo.start, redo.end) == (_us(30), _us(0) + day)
    assert (redo.watermark, redo.dirty_since) == (cutoff, _us(0) + day)


def test_a_topic_with_decades_to_roll_up_does_not_starve_the_others(backend):
    from telemetry.rollups import rollup_store

    now = datetime(2024, 3, 2, tzinfo=UTC)
    reading_bulk_append(
        readings=[
            ReadingIn(topic="ancient.temp", ts=datetime(1971, 1, 1, tzinfo=UTC), value=1.0),
            ReadingIn(topic="ancient.temp", ts=now - timedelta(hours=3), value=2.0),
            ReadingIn(topic="new.temp", ts=now - timedelta(hours=3), value=3.0),
        ]
    )

    report = rollup_refresh(now=now, max_windows=20)

    assert report.more is True  # decades of days are left for ancient.temp (listed first)
    assert report.topics == 2
    assert rollup_store().state(topic="new.temp").watermark is not None
    assert any(row[1] == "new.temp" for row in _rollup_rows(backend))
