"""The whole app (ingest entry point, API) on the mongo backend, over the wire."""

from __future__ import annotations

import pytest

from telemetry.records import ReadingIn
from telemetry.services import reading_bulk_append
from telemetry.tests.factories import T0, DeviceFactory, readings

pytestmark = [pytest.mark.mongo, pytest.mark.django_db(databases="__all__")]


def test_append_and_query_through_the_api(mongo_backend, client_for, telemetry_num_queries):
    DeviceFactory(name="pi", owner_id=1)
    first = reading_bulk_append(readings=readings("pi.temp", 90) + readings("other.x", 1))
    again = reading_bulk_append(readings=readings("pi.temp", 3))
    client = client_for(user_id=1)

    with telemetry_num_queries(1):  # owned device names from SQL; topics from Mongo
        topics = client.get("/iot").json()
    latest = client.get("/iot/pi.temp/latest").json()
    page = client.get("/iot/pi.temp/readings", {"limit": 50}).json()
    second = client.get(page["next"]).json()
    buckets = client.get(
        "/iot/pi.temp/readings", {"bucket": "1m", "agg": "count", "order": "asc"}
    ).json()

    assert (first.stored, again.duplicates) == (91, 3)
    assert topics == {
        "data": [
            {
                "topic": "pi.temp",
                "last_date": "2024-03-01T12:01:29+00:00",
                "last_value": 89.0,
                "unit": None,
            }
        ]
    }
    assert latest["data"] == [{"date": "2024-03-01T12:01:29+00:00", "value": 89.0}]
    assert len(page["data"]) + len(second["data"]) == 90 and second["next"] is None
    assert [b["count"] for b in buckets["data"]] == [60, 30]
    assert client.get("/iot/other.x/latest").status_code == 404


def test_text_and_late_readings(mongo_backend, client_for):
    reading_bulk_append(readings=[ReadingIn(topic="pi.door", ts=T0, text="open")])
    reading_bulk_append(readings=[ReadingIn(topic="pi.door", ts=T0.replace(hour=1), text="shut")])

    body = client_for(user_id=5, is_staff=True).get("/iot").json()

    assert body["data"] == [
        {
            "topic": "pi.door",
            "last_date": "2024-03-01T12:00:00+00:00",
            "last_value": "open",
            "unit": None,
        }
    ]


def test_unreachable_mongo_is_a_storage_error_and_a_503(settings, client_for):
    from telemetry.services import StorageError

    settings.TELEMETRY_BACKEND = "mongo"
    settings.MONGO_URL = "mongodb://127.0.0.1:9/iot?serverSelectionTimeoutMS=200"

    with pytest.raises(StorageError):
        reading_bulk_append(readings=readings("pi.temp", 1))
    response = client_for(user_id=1, is_staff=True).get("/iot")
    assert response.status_code == 503
    assert response.json()["detail"]
