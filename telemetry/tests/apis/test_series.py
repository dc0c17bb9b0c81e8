"""Series as firmware names them (any printable levels, URL-encoded) and their units, through
/iot and /iot/<series>, on both backends."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from telemetry import selectors
from telemetry.records import ReadingIn
from telemetry.services import reading_bulk_append
from telemetry.tests.factories import T0, DeviceFactory

pytestmark = pytest.mark.django_db(databases="__all__")

S = timedelta(seconds=1)
ALICE = 1
NAMES = [
    "bridge1.living room sensor.temperature",
    "bridge1.switch:0.output",
    "bridge1.cpu.cpu=cpu0.usage_idle",
    "bridge1.Küche.température",
    "bridge1.温度",
    "bridge1.a+b&c?d#e%f",
]


@pytest.fixture(params=["sql", pytest.param("mongo", marks=pytest.mark.mongo)])
def backend(request):
    if request.param == "mongo":
        request.getfixturevalue("mongo_backend")
    return request.param


@pytest.fixture
def bridge(backend):
    DeviceFactory(name="bridge1", owner_id=ALICE)
    reading_bulk_append(
        readings=[
            ReadingIn(topic=name, ts=T0 + i * S, value=float(i), unit="Cel" if i == 0 else None)
            for i, name in enumerate(NAMES)
        ]
        + [
            ReadingIn(topic="bridge1.temp", ts=T0 + s * S, value=20.0 + s, unit="°C")
            for s in (0, 1)
        ]
    )


def path(name: str, rest: str = "") -> str:
    return f"/iot/{quote(name, safe='')}{rest}"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("rest", ["", "/latest", "/readings", "/2024-03-01/2024-03-01"])
def test_url_encoded_series_names_are_readable(bridge, client_for, name, rest):
    response = client_for(user_id=ALICE).get(path(name, rest))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["topic"] == name
    assert [p["value"] for p in body["data"]] == [float(NAMES.index(name))]


def test_units_are_listed_and_returned_next_to_the_topic(bridge, client_for):
    client = client_for(user_id=ALICE)

    listed = {t["topic"]: t["unit"] for t in client.get("/iot").json()["data"]}
    latest = client.get("/iot/bridge1.temp/latest").json()
    retrieve = client.get("/iot/bridge1.temp").json()
    ranged = client.get("/iot/bridge1.temp/2024-03-01/2024-03-01").json()
    page = client.get("/iot/bridge1.temp/readings").json()
    buckets = client.get("/iot/bridge1.temp/readings", {"bucket": "1m", "agg": "max"}).json()
    no_unit = client.get(path(NAMES[1], "/latest")).json()

    assert listed["bridge1.temp"] == "°C"
    assert listed[NAMES[0]] == "Cel" and listed[NAMES[1]] is None
    assert latest == {
        "topic": "bridge1.temp",
        "unit": "°C",
        "data": [{"date": "2024-03-01T12:00:01+00:00", "value": 21.0}],
    }
    assert retrieve == latest
    assert ranged["unit"] == page["unit"] == buckets["unit"] == "°C"
    assert list(page) == ["topic", "unit", "data", "next"]
    assert list(buckets) == ["topic", "unit", "bucket", "agg", "data", "next"]
    assert buckets["data"] == [{"date": "2024-03-01T12:00:00+00:00", "max": 21.0}]
    assert no_unit["unit"] is None


def test_csv_export_is_unchanged_and_names_the_file_safely(bridge, client_for):
    response = client_for(user_id=ALICE).get(path(NAMES[3], "/readings"), {"format": "csv"})

    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode().splitlines() == [
        "date,value",
        "2024-03-01T12:00:03+00:00,3.0",
    ]
    assert response["Content-Disposition"].startswith("attachment; filename*=utf-8''")


def test_a_new_unit_reaches_the_cached_latest_value(bridge, client_for, telemetry_on_commit):
    client = client_for(user_id=ALICE)
    assert client.get("/iot/bridge1.temp/latest").json()["unit"] == "°C"  # now cached

    with telemetry_on_commit(execute=True):
        reading_bulk_append(
            readings=[ReadingIn(topic="bridge1.temp", ts=T0 + 9 * S, value=70.0, unit="°F")]
        )

    assert client.get("/iot/bridge1.temp/latest").json()["unit"] == "°F"
    assert client.get("/iot/bridge1.temp/readings").json()["unit"] == "°F"


@pytest.mark.parametrize(
    "raw",
    [
        "/iot/bridge1.a%2Fb",
        "/iot/bridge1.a%2Fb/latest",
        "/iot/bridge1.a%2Fb/readings",
        "/iot/bridge1%2Ftemp/latest",
    ],
)
def test_an_encoded_slash_never_reaches_a_series(bridge, client_for, raw):
    reading_bulk_append(readings=[ReadingIn(topic="bridge1.a", ts=T0, value=1.0)])

    response = client_for(user_id=ALICE).get(raw)

    assert response.status_code in (400, 404)
    assert response.json()["detail"]
    assert "data" not in response.json()


def test_series_names_follow_the_pattern():
    assert all(selectors.topic_is_valid(topic=name) for name in NAMES)
    assert selectors.topic_is_valid(topic="raspberrypi.temp")
    for bad in ["bridge1.a/b", "bridge1..x", "bridge1.x\n", "bridge1.\x85", "bad name.x"]:
        assert not selectors.topic_is_valid(topic=bad), bad
    assert not selectors.topic_is_valid(topic="d." + "x" * 128 + "." + "y" * 128)


def test_schema_states_the_series_pattern(api_client):
    from telemetry.records import SERIES_PATTERN_ECMA

    schema = api_client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    for route in ["/iot/{topic}", "/iot/{topic}/latest", "/iot/{topic}/readings"]:
        operation = schema["paths"][route]["get"]
        (topic,) = [p for p in operation["parameters"] if p["name"] == "topic"]
        assert topic["in"] == "path"
        assert topic["schema"]["pattern"] == SERIES_PATTERN_ECMA
        assert {"400", "401", "404", "503"} <= set(operation["responses"])
    item = schema["components"]["schemas"]["TopicSummary"]["properties"]
    assert item["unit"]["nullable"] is True
