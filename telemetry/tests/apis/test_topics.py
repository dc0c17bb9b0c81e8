"""/iot, /iot/<topic>, /iot/<topic>/latest and /iot/<topic>/<start>/<end>."""

from __future__ import annotations

from datetime import timedelta

import pytest

from telemetry.records import ReadingIn
from telemetry.services import reading_bulk_append
from telemetry.tests.factories import T0, DeviceFactory, readings

pytestmark = pytest.mark.django_db(databases="__all__")

ALICE, BOB, STAFF = 1, 2, 99


@pytest.fixture
def world():
    """alice owns 'pi' (temp, hum), bob owns 'edison' (pot); 'stray' is nobody's."""
    DeviceFactory(name="pi", owner_id=ALICE)
    DeviceFactory(name="edison", owner_id=BOB)
    reading_bulk_append(
        readings=readings("pi.temp", 5)
        + readings("pi.hum", 2, value=lambda i: 40.0 + i)
        + readings("edison.pot", 3)
        + [ReadingIn(topic="stray.door", ts=T0, text="open")]
    )


def test_topic_list_shows_only_the_callers_topics(world, client_for):
    response = client_for(user_id=ALICE).get("/iot")

    assert response.status_code == 200
    assert response.json() == {
        "data": [
            {
                "topic": "pi.hum",
                "last_date": "2024-03-01T12:00:01+00:00",
                "last_value": 41.0,
                "unit": None,
            },
            {
                "topic": "pi.temp",
                "last_date": "2024-03-01T12:00:04+00:00",
                "last_value": 4.0,
                "unit": None,
            },
        ]
    }


def test_staff_see_every_topic_including_unregistered_devices(world, client_for):
    response = client_for(user_id=STAFF, is_staff=True).get("/iot")

    topics = {t["topic"]: t["last_value"] for t in response.json()["data"]}
    assert topics == {"edison.pot": 2.0, "pi.hum": 41.0, "pi.temp": 4.0, "stray.door": "open"}


@pytest.mark.parametrize("is_staff", [False, True])
def test_topic_list_is_one_query(world, client_for, telemetry_num_queries, is_staff):
    client = client_for(user_id=ALICE, is_staff=is_staff)
    with telemetry_num_queries(1):
        assert client.get("/iot").status_code == 200


@pytest.mark.parametrize("path", ["/iot/pi.temp", "/iot/pi.temp/latest"])
def test_latest_shape(world, client_for, path):
    response = client_for(user_id=ALICE).get(path)

    assert response.status_code == 200
    assert response.json() == {
        "topic": "pi.temp",
        "unit": None,
        "data": [{"date": "2024-03-01T12:00:04+00:00", "value": 4.0}],
    }


def test_latest_follows_new_readings(world, client_for, telemetry_on_commit):
    client = client_for(user_id=ALICE)
    assert client.get("/iot/pi.temp/latest").json()["data"][0]["value"] == 4.0  # now cached

    with telemetry_on_commit(execute=True):
        reading_bulk_append(
            readings=[ReadingIn(topic="pi.temp", ts=T0 + timedelta(hours=1), value=30.5)]
        )

    assert client.get("/iot/pi.temp/latest").json()["data"] == [
        {"date": "2024-03-01T13:00:00+00:00", "value": 30.5}
    ]


def test_latest_once_cached_needs_no_query(world, client_for, telemetry_num_queries):
    client = client_for(user_id=ALICE)
    assert client.get("/iot/pi.temp/latest").status_code == 200  # owner and value now cached

    with telemetry_num_queries(0):
        response = client.get("/iot/pi.temp/latest")

    assert response.json()["data"] == [{"date": "2024-03-01T12:00:04+00:00", "value": 4.0}]


def test_cached_latest_is_still_404_for_another_user(world, client_for):
    assert client_for(user_id=ALICE).get("/iot/pi.temp/latest").status_code == 200  # cached

    response = client_for(user_id=BOB).get("/iot/pi.temp/latest")

    assert response.status_code == 404
    assert response.json() == {"detail": "Topic not found."}


@pytest.mark.parametrize(
    "path",
    [
        "/iot/edison.pot",
        "/iot/edison.pot/latest",
        "/iot/edison.pot/2024-03-01/2024-03-01",
        "/iot/edison.pot/readings",
        "/iot/stray.door/latest",
    ],
)
def test_other_users_topics_answer_404_like_missing_ones(world, client_for, path):
    client = client_for(user_id=ALICE)
    missing = path.replace("edison.pot", "pi.nothing").replace("stray.door", "pi.nothing")

    forbidden, absent = client.get(path), client.get(missing)

    assert forbidden.status_code == absent.status_code == 404
    assert forbidden.json() == absent.json() == {"detail": "Topic not found."}


def test_staff_read_any_topic(world, client_for):
    client = client_for(user_id=STAFF, is_staff=True)

    assert client.get("/iot/edison.pot/latest").json()["data"][0]["value"] == 2.0
    assert client.get("/iot/stray.door/latest").json()["data"][0]["value"] == "open"
    assert client.get("/iot/pi.nothing/latest").status_code == 404


def test_requests_without_a_token_are_refused(world, api_client):
    assert api_client.get("/iot").status_code == 401
    assert api_client.get("/iot/pi.temp/latest").status_code == 401


@pytest.mark.parametrize(
    "topic",
    ["pi", "pi..temp", "pi.te%01mp", "pi.te%7Fmp", ".temp", "pi.temp.", "x" * 65 + ".t", "p i.t"],
)
def test_malformed_topic_is_400(world, client_for, topic):
    response = client_for(user_id=ALICE).get(f"/iot/{topic}/latest")

    assert response.status_code == (404 if topic == "pi" else 400)
    assert "detail" in response.json()


def test_range_by_days_includes_the_end_day_newest_first(client_for):
    DeviceFactory(name="pi", owner_id=ALICE)
    reading_bulk_append(
        readings=readings("pi.temp", 4, start=T0 - timedelta(days=1), step=timedelta(hours=12))
    )  # Feb 29 12:00, Mar 1 00:00, Mar 1 12:00, Mar 2 00:00

    response = client_for(user_id=ALICE).get("/iot/pi.temp/2024-03-01/2024-03-01")

    assert response.status_code == 200
    assert response.json() == {
        "topic": "pi.temp",
        "unit": None,
        "data": [
            {"date": "2024-03-01T12:00:00+00:00", "value": 2.0},
            {"date": "2024-03-01T00:00:00+00:00", "value": 1.0},
        ],
    }


def test_range_by_iso_datetimes_includes_both_ends(world, client_for):
    response = client_for(user_id=ALICE).get(
        "/iot/pi.temp/2024-03-01T12:00:01+00:00/2024-03-01T13:00:03+01:00"
    )

    assert [p["value"] for p in response.json()["data"]] == [3.0, 2.0, 1.0]


@pytest.mark.parametrize(
    ("start", "end"),
    [("2024-02-30", "2024-03-01"), ("yesterday", "2024-03-01"), ("2024-03-02", "2024-03-01")],
)
def test_bad_or_reversed_dates_are_400(world, client_for, start, end):
    response = client_for(user_id=ALICE).get(f"/iot/pi.temp/{start}/{end}")

    assert response.status_code == 400
    assert response.json()["detail"]


def test_range_over_the_row_limit_is_400_naming_it(world, client_for, settings):
    settings.TELEMETRY_RANGE_MAX_ROWS = 3

    response = client_for(user_id=ALICE).get("/iot/pi.temp/2024-03-01/2024-03-01")

    assert response.status_code == 400
    assert response.json()["limit"] == 3
    assert "TELEMETRY_RANGE_MAX_ROWS" in response.json()["detail"]
