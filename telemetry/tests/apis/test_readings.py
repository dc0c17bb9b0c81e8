"""/iot/<topic>/readings: cursor pages, aggregates per bucket, CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from telemetry.records import ReadingIn
from telemetry.services import reading_bulk_append
from telemetry.tests.factories import T0, DeviceFactory, readings

pytestmark = pytest.mark.django_db(databases="__all__")

OWNER = 7
URL = "/iot/pi.temp/readings"


@pytest.fixture
def client(client_for):
    DeviceFactory(name="pi", owner_id=OWNER)
    return client_for(user_id=OWNER)


def _all_pages(client, url):
    values, pages = [], 0
    while url:
        body = client.get(url).json()
        values += [p["value"] for p in body["data"]]
        url, pages = body["next"], pages + 1
    return values, pages


def test_pages_follow_next_links_newest_first(client):
    reading_bulk_append(readings=readings("pi.temp", 25))

    first = client.get(URL, {"limit": 10}).json()
    values, pages = _all_pages(client, f"{URL}?limit=10")

    assert first["topic"] == "pi.temp"
    assert first["data"][0] == {"date": "2024-03-01T12:00:24+00:00", "value": 24.0}
    assert first["next"].startswith("http://testserver/iot/pi.temp/readings?")
    assert values == [float(i) for i in range(24, -1, -1)]
    assert pages == 3


def test_ascending_pages_within_a_half_open_range(client):
    reading_bulk_append(readings=readings("pi.temp", 25))
    start, end = "2024-03-01T12:00:05Z", "2024-03-01T12:00:15+00:00"

    values, pages = _all_pages(
        client, f"{URL}?order=asc&limit=4&start={start}&end={end.replace('+', '%2B')}"
    )

    assert values == [float(i) for i in range(5, 15)]
    assert pages == 3


def test_plus_in_an_unencoded_query_offset_is_understood(client):
    reading_bulk_append(readings=readings("pi.temp", 5))

    body = client.get(f"{URL}?start=2024-03-01T13:00:03+01:00").json()

    assert [p["value"] for p in body["data"]] == [4.0, 3.0]


def test_last_page_has_no_next_link(client):
    reading_bulk_append(readings=readings("pi.temp", 3))

    body = client.get(URL).json()

    assert (len(body["data"]), body["next"]) == (3, None)


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1001", "2.5"])
def test_bad_limit_is_400(client, limit):
    response = client.get(URL, {"limit": limit})

    assert response.status_code == 400
    assert "limit" in response.json()


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2024-13-01"},
        {"start": "2024-03-02", "end": "2024-03-01"},
        {"cursor": "not-a-cursor"},
        {"order": "sideways"},
        {"bucket": "1w"},
        {"bucket": "2d"},
        {"bucket": "0s"},
        {"bucket": "1m", "agg": "median"},
        {"agg": "avg"},
    ],
)
def test_bad_query_is_400_with_a_message(client, params):
    reading_bulk_append(readings=readings("pi.temp", 1))

    response = client.get(URL, params)

    assert response.status_code == 400
    assert response.json()["detail"]


def test_aggregate_per_minute(client):
    reading_bulk_append(readings=readings("pi.temp", 150, start=T0))  # 2.5 minutes of 1 Hz

    body = client.get(URL, {"bucket": "1m", "agg": "avg,min,max,count,sum", "order": "asc"}).json()

    assert body["bucket"] == "1m"
    assert body["agg"] == ["avg", "min", "max", "count", "sum"]
    assert body["next"] is None
    assert body["data"][0] == {
        "date": "2024-03-01T12:00:00+00:00",
        "avg": 29.5,
        "min": 0.0,
        "max": 59.0,
        "count": 60,
        "sum": 1770.0,
    }
    assert [b["count"] for b in body["data"]] == [60, 60, 30]


def test_aggregate_defaults_to_avg_newest_bucket_first(client):
    reading_bulk_append(readings=readings("pi.temp", 4, step=timedelta(hours=1)))

    body = client.get(URL, {"bucket": "1h", "start": "2024-03-01T13:00:00Z"}).json()

    assert body["data"] == [
        {"date": "2024-03-01T15:00:00+00:00", "avg": 3.0},
        {"date": "2024-03-01T14:00:00+00:00", "avg": 2.0},
        {"date": "2024-03-01T13:00:00+00:00", "avg": 1.0},
    ]


def test_aggregate_over_the_scan_limit_is_400_naming_it(client, settings):
    settings.TELEMETRY_AGG_MAX_ROWS = 10
    reading_bulk_append(readings=readings("pi.temp", 11))

    response = client.get(URL, {"bucket": "1m"})
    narrowed = client.get(URL, {"bucket": "1m", "end": "2024-03-01T12:00:10Z"})

    assert response.status_code == 400
    assert response.json()["limit"] == 10
    assert narrowed.status_code == 200


def test_csv_streams_every_row_and_parses_back(client):
    batch = readings("pi.temp", 12_345, value=lambda i: i / 10)
    batch.append(ReadingIn(topic="pi.temp", ts=T0 - timedelta(seconds=1), text="boot, ok"))
    reading_bulk_append(readings=batch)

    response = client.get(URL, {"format": "csv", "order": "asc"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["date", "value"]
    assert rows[1] == ["2024-03-01T11:59:59+00:00", "boot, ok"]
    parsed = [(datetime.fromisoformat(d), float(v)) for d, v in rows[2:]]
    assert parsed == [(r.ts.astimezone(UTC), r.value) for r in batch[:-1]]


def test_csv_neutralises_device_text_that_a_spreadsheet_would_run(client):
    texts = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "ok"]
    batch = [
        ReadingIn(topic="pi.temp", ts=T0 + timedelta(seconds=i), text=text)
        for i, text in enumerate(texts)
    ]
    batch.append(ReadingIn(topic="pi.temp", ts=T0 + timedelta(seconds=10), value=-4.5))
    reading_bulk_append(readings=batch)

    response = client.get(URL, {"format": "csv", "order": "asc"})

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [v for _, v in rows[1:]] == [
        '\'=HYPERLINK("http://evil.example","x")',
        "'+1+1",
        "'-2+3",
        "'@SUM(A1)",
        "ok",
        "-4.5",
    ]
    json_values = client.get(URL, {"order": "asc"}).json()["data"]
    assert json_values[0]["value"] == texts[0]  # only the CSV cell changes


def test_csv_of_aggregates_has_one_column_per_aggregate(client):
    reading_bulk_append(readings=readings("pi.temp", 120))

    response = client.get(URL, {"format": "csv", "bucket": "1m", "agg": "min,max", "order": "asc"})

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        ["date", "min", "max"],
        ["2024-03-01T12:00:00+00:00", "0.0", "59.0"],
        ["2024-03-01T12:01:00+00:00", "60.0", "119.0"],
    ]


def test_csv_over_the_row_limit_is_a_json_400(client, settings):
    settings.TELEMETRY_CSV_MAX_ROWS = 5
    reading_bulk_append(readings=readings("pi.temp", 6))

    response = client.get(URL, {"format": "csv"})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["limit"] == 5


def test_a_request_for_too_many_buckets_is_400_naming_the_limit_and_a_bucket_that_fits(
    client, settings
):
    reading_bulk_append(readings=readings("pi.temp", 3))
    span = {"start": "2024-03-01T00:00:00Z", "end": "2024-03-01T03:00:00Z"}

    refused = client.get(URL, {**span, "bucket": "1s"})  # 10,800 buckets

    assert refused.status_code == 400
    body = refused.json()
    assert body["limit"] == settings.TELEMETRY_AGG_MAX_BUCKETS == 10_000
    assert body["smallest_bucket"] == "2s"
    assert "TELEMETRY_AGG_MAX_BUCKETS" in body["detail"] and "bucket=2s" in body["detail"]
    assert client.get(URL, {**span, "bucket": "2s"}).status_code == 200


def test_the_bucket_cap_counts_buckets_served_from_rollups_and_open_ranges(client, settings):
    from telemetry.services import rollup_refresh

    two_days = readings("pi.temp", 2 * 1440, step=timedelta(minutes=1))
    reading_bulk_append(readings=two_days)
    rollup_refresh(now=T0 + timedelta(days=3))
    settings.TELEMETRY_AGG_MAX_BUCKETS = 1000
    span = {"start": "2024-03-01T12:00:00Z", "end": "2024-03-03T12:00:00Z"}

    refused = client.get(URL, {**span, "bucket": "1m"})  # 2,880 buckets, all from rollups
    open_ended = client.get(URL, {"bucket": "1m"})  # the topic's own first to last reading

    assert refused.status_code == 400 and open_ended.status_code == 400
    fitting = refused.json()["smallest_bucket"]
    assert client.get(URL, {**span, "bucket": fitting}).status_code == 200
    hourly = client.get(URL, {**span, "bucket": "1h", "order": "asc"}).json()["data"]
    assert hourly[0]["avg"] == 29.5


@pytest.mark.parametrize(
    "path",
    [
        "/iot/pi.temp/0001-01-01T00:00:00+01:00/9999-12-31",
        "/iot/pi.temp/readings?start=0001-01-01T00:00:00%2B01:00&end=9999-12-31T23:59:59-01:00",
    ],
)
def test_instants_beyond_the_calendar_read_as_its_ends(client, path):
    reading_bulk_append(readings=readings("pi.temp", 3))

    response = client.get(path)

    assert response.status_code == 200 and len(response.json()["data"]) == 3


@pytest.mark.parametrize(
    "params",
    [{"start": " 2024-03-01"}, {"start": "2024-03-01T12"}, {"bucket": " 1m"}, {"limit": "5.0"},
     {"bucket": "1m", "agg": "avg,,min"}, {"cursor": "dDE!"}],
)  # fmt: skip
def test_what_the_schema_does_not_allow_is_400(client, params):
    reading_bulk_append(readings=readings("pi.temp", 1))

    response = client.get(URL, params)

    assert response.status_code == 400 and set(params) & set(response.json())
