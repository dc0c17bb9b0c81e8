"""The storage contract, run against every backend (SQL on SQLite/PostgreSQL, and Mongo)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telemetry.records import DeadLetterIn, ReadingIn
from telemetry.tests.factories import T0, readings

pytestmark = pytest.mark.django_db(databases="__all__")

S = timedelta(seconds=1)


def test_append_counts_new_and_duplicate_readings(storage):
    first = storage.append(readings=readings("pi.temp", 10), dead_letters=[])
    again = storage.append(readings=readings("pi.temp", 12), dead_letters=[])

    assert (first.stored, first.duplicates) == (10, 0)
    assert (again.stored, again.duplicates) == (2, 10)
    assert storage.count(topic="pi.temp", start=None, end=None, cap=100) == 12


def test_duplicate_keeps_the_first_value(storage):
    storage.append(readings=[ReadingIn(topic="pi.temp", ts=T0, value=1.0)], dead_letters=[])
    storage.append(readings=[ReadingIn(topic="pi.temp", ts=T0, value=2.0)], dead_letters=[])

    assert storage.latest(topic="pi.temp").value == 1.0


def test_microsecond_timestamps_are_distinct_readings(storage):
    batch = [
        ReadingIn(topic="pi.temp", ts=T0 + timedelta(microseconds=i), value=i) for i in range(3)
    ]

    result = storage.append(readings=batch, dead_letters=[])

    assert result.stored == 3
    points = storage.range(topic="pi.temp", start=None, end=None, descending=False, limit=10)
    assert [p.ts for p in points] == [r.ts for r in batch]
    start = T0 + timedelta(microseconds=1)
    assert [
        p.value
        for p in storage.range(
            topic="pi.temp",
            start=start,
            end=start + timedelta(microseconds=1),
            descending=False,
            limit=10,
        )
    ] == [1.0]


def test_latest_is_the_newest_reading_whatever_the_insert_order(storage):
    storage.append(readings=readings("pi.temp", 5, start=T0 + 10 * S), dead_letters=[])
    storage.append(readings=readings("pi.temp", 5), dead_letters=[])

    latest = storage.latest(topic="pi.temp")

    assert (latest.ts, latest.value, latest.text) == (T0 + 14 * S, 4.0, None)
    assert storage.latest(topic="pi.nothing") is None


def test_text_readings_round_trip(storage):
    storage.append(readings=[ReadingIn(topic="pi.door", ts=T0, text="open")], dead_letters=[])

    point = storage.latest(topic="pi.door")

    assert (point.value, point.text, point.shown) == (None, "open", "open")


def test_range_is_half_open_and_ordered(storage):
    storage.append(readings=readings("pi.temp", 10), dead_letters=[])
    storage.append(readings=readings("pi.other", 10), dead_letters=[])

    desc = storage.range(
        topic="pi.temp", start=T0 + 2 * S, end=T0 + 5 * S, descending=True, limit=100
    )
    asc = storage.range(
        topic="pi.temp", start=T0 + 2 * S, end=T0 + 5 * S, descending=False, limit=2
    )

    assert [p.value for p in desc] == [4.0, 3.0, 2.0]
    assert [p.value for p in asc] == [2.0, 3.0]
    assert all(p.ts.tzinfo is not None for p in desc)


def test_count_stops_at_the_cap(storage):
    storage.append(readings=readings("pi.temp", 20), dead_letters=[])

    assert storage.count(topic="pi.temp", start=None, end=None, cap=5) == 5
    assert storage.count(topic="pi.temp", start=T0, end=T0 + 3 * S, cap=5) == 3


@pytest.mark.parametrize("bucket_seconds", [60, 420])  # 7 minutes does not divide a day's offset
def test_aggregate_buckets_are_aligned_to_the_epoch(storage, bucket_seconds):
    start = datetime(2024, 3, 1, 0, 0, tzinfo=UTC)
    storage.append(readings=readings("pi.temp", 30 * 60, start=start), dead_letters=[])
    storage.append(
        readings=[ReadingIn(topic="pi.temp", ts=start - S, text="boot")], dead_letters=[]
    )

    buckets = storage.aggregate(
        topic="pi.temp",
        start=start,
        end=start + timedelta(minutes=30),
        bucket_seconds=bucket_seconds,
        aggregates=["avg", "min", "max", "count", "sum"],
    )

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert all((b.start - epoch).total_seconds() % bucket_seconds == 0 for b in buckets)
    assert sum(b.values["count"] for b in buckets) == 30 * 60
    first = buckets[0]
    n = int((first.start + timedelta(seconds=bucket_seconds) - start).total_seconds())
    assert first.values == {
        "avg": (n - 1) / 2,
        "min": 0.0,
        "max": n - 1.0,
        "count": n,
        "sum": float(n * (n - 1) // 2),
    }


def test_aggregate_over_a_day_by_hour(storage):
    storage.append(
        readings=readings(
            "pi.temp", 48, start=T0, step=timedelta(minutes=30), value=lambda i: i % 2
        ),
        dead_letters=[],
    )

    buckets = storage.aggregate(
        topic="pi.temp", start=None, end=None, bucket_seconds=3600, aggregates=["avg", "count"]
    )

    assert len(buckets) == 24
    assert buckets[0].start == T0
    assert {b.values["avg"] for b in buckets} == {0.5}
    assert {b.values["count"] for b in buckets} == {2}


def test_topic_summaries(storage):
    storage.append(readings=readings("pi.temp", 3) + readings("pi.hum", 2), dead_letters=[])
    storage.append(readings=readings("edison.pot", 1), dead_letters=[])
    storage.append(readings=[ReadingIn(topic="pi.temp", ts=T0 - S, value=99.0)], dead_letters=[])

    every = storage.topic_list(devices=None)
    pi = storage.topic_list(devices=["pi"])
    temp = storage.topic_get(topic="pi.temp")

    assert [t.name for t in every] == ["edison.pot", "pi.hum", "pi.temp"]
    assert [t.name for t in pi] == ["pi.hum", "pi.temp"]
    assert (temp.device, temp.last_ts, temp.last_value) == ("pi", T0 + 2 * S, 2.0)
    assert storage.topic_get(topic="pi.none") is None


def test_dead_letters_are_counted(storage):
    letter = DeadLetterIn(topic="pi.temp", payload=b"{", reason="malformed JSON", received_at=T0)

    result = storage.append(readings=[], dead_letters=[letter, letter])

    assert result.dead_lettered == 2


def test_check_answers(storage):
    storage.check()


def test_units_are_kept_per_topic_and_move_with_the_newest_reading_that_has_one(storage):
    storage.append(
        readings=[
            ReadingIn(topic="pi.temp", ts=T0, value=21.0, unit="Cel"),
            ReadingIn(topic="pi.temp", ts=T0 + S, value=21.5, unit="°C"),
            ReadingIn(topic="pi.hum", ts=T0, value=40.0),
        ],
        dead_letters=[],
    )
    first = {t.name: t.unit for t in storage.topic_list(devices=None)}
    # A reading without a unit leaves it; a late one that carries one sets it.
    storage.append(
        readings=[ReadingIn(topic="pi.temp", ts=T0 + 5 * S, value=22.0)], dead_letters=[]
    )
    kept = storage.topic_get(topic="pi.temp")
    storage.append(
        readings=[ReadingIn(topic="pi.hum", ts=T0 - S, value=39.0, unit="%RH")], dead_letters=[]
    )

    assert first == {"pi.hum": None, "pi.temp": "°C"}
    assert (kept.unit, kept.last_value) == ("°C", 22.0)
    hum = storage.topic_get(topic="pi.hum")
    assert (hum.unit, hum.last_value, hum.last_ts) == ("%RH", 40.0, T0)


def test_topics_known_are_the_names_with_readings(storage):
    storage.append(
        readings=readings("pi.temp", 1) + readings("pi.living room.t", 1), dead_letters=[]
    )

    known = storage.topics_known(names=["pi.temp", "pi.living room.t", "pi.hum", "x.y"])

    assert known == {"pi.temp", "pi.living room.t"}
    assert storage.topics_known(names=[]) == set()
