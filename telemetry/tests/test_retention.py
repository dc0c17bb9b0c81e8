"""Retention deletes exactly what is older than each setting, in batches, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from telemetry.records import DeadLetterIn
from telemetry.services import reading_bulk_append, retention_enforce, rollup_refresh
from telemetry.tests.factories import readings

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture(params=["sql", pytest.param("mongo", marks=pytest.mark.mongo)])
def backend(request):
    if request.param == "mongo":
        request.getfixturevalue("mongo_backend")
    return request.param


def _dead(topic: str, at) -> DeadLetterIn:
    return DeadLetterIn(topic=topic, payload=b"{oops", reason="malformed JSON", received_at=at)


def _dead_letter_topics(backend: str) -> list[str]:
    if backend == "mongo":
        from telemetry.storage import get_storage

        return sorted(d["topic"] for d in get_storage().dead_letters.find())
    from telemetry.models import DeadLetter

    return sorted(DeadLetter.objects.values_list("topic", flat=True))


def _count(client, topic: str, bucket: str, start, end) -> list[int]:
    body = client.get(
        f"/iot/{topic}/readings",
        {"bucket": bucket, "agg": "count", "order": "asc", "start": start.isoformat(),
         "end": end.isoformat()},
    ).json()  # fmt: skip
    return [b["count"] for b in body["data"]]


def test_retention_keeps_what_is_young_enough(backend, settings, client_for):
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    old, recent = now - timedelta(days=40), now - timedelta(days=2)
    reading_bulk_append(
        readings=readings("pi.temp", 130, start=old) + readings("pi.temp", 50, start=recent),
        dead_letters=[_dead("pi.old", now - timedelta(days=9)), _dead("pi.new", recent)],
    )
    rollup_refresh(now=now)
    settings.TELEMETRY_RAW_RETENTION_DAYS = 7
    settings.TELEMETRY_ROLLUP_RETENTION_DAYS = 0  # kept forever
    settings.TELEMETRY_DEAD_LETTER_RETENTION_DAYS = 5
    settings.TELEMETRY_RETENTION_BATCH_SIZE = 40  # several batches per table

    report = retention_enforce(now=now)
    again = retention_enforce(now=now)
    staff = client_for(user_id=1, is_staff=True)

    assert (report.readings, report.rollups, report.dead_letters) == (130, 0, 1)
    assert (again.readings, again.dead_letters) == (0, 0)
    page = staff.get("/iot/pi.temp/readings", {"limit": 1000, "order": "asc"}).json()
    assert len(page["data"]) == 50 and page["data"][0]["date"] == recent.isoformat()
    assert _dead_letter_topics(backend) == ["pi.new"]
    # The expired month is still charted from its rollups.
    assert _count(staff, "pi.temp", "1h", old, old + timedelta(hours=1)) == [130]

    settings.TELEMETRY_ROLLUP_RETENTION_DAYS = 30
    rolled = retention_enforce(now=now)

    assert rolled.rollups == 3 + 1  # three minutes and one hour of the old stretch
    assert _count(staff, "pi.temp", "1h", old, old + timedelta(hours=1)) == []
    assert _count(staff, "pi.temp", "1h", recent, recent + timedelta(hours=1)) == [50]


def test_retention_is_off_by_default(backend, settings):
    now = timezone.now()
    reading_bulk_append(
        readings=readings("pi.temp", 10, start=now - timedelta(days=3000)),
        dead_letters=[_dead("pi.x", now - timedelta(days=3))],
    )

    report = retention_enforce(now=now)

    assert (report.readings, report.rollups, report.dead_letters) == (0, 0, 0)
    assert settings.TELEMETRY_DEAD_LETTER_RETENTION_DAYS == 30
