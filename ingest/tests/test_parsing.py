"""Every payload format of DESIGN.md's MQTT section, and what goes to dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ingest.parsing import IgnoredTopic, PayloadError, message_parse
from telemetry.records import ReadingIn

RX = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def parse(topic: str, payload: bytes, *, limit: int = 1024) -> list[ReadingIn]:
    return message_parse(mqtt_topic=topic, payload=payload, received_at=RX, max_payload_bytes=limit)


def test_bare_number_uses_receive_time_and_dotted_topic():
    assert parse("raspberrypi/temp", b"28.4") == [
        ReadingIn(topic="raspberrypi.temp", ts=RX, value=28.4)
    ]


def test_bare_string_is_a_text_reading():
    assert parse("edison/door", b"open") == [ReadingIn(topic="edison.door", ts=RX, text="open")]
    assert parse("edison/door", b'"closed"') == [
        ReadingIn(topic="edison.door", ts=RX, text="closed")
    ]


def test_bare_booleans_are_one_and_zero():
    assert parse("dev/switch", b"true")[0].value == 1.0
    assert parse("dev/switch", b"false")[0].value == 0.0


def test_deep_topic_levels_become_dots():
    assert parse("dev/room/1/temp", b"1")[0].topic == "dev.room.1.temp"


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2018-12-07T07:54:56+00:00", datetime(2018, 12, 7, 7, 54, 56, tzinfo=UTC)),
        ("2018-12-07T07:54:56Z", datetime(2018, 12, 7, 7, 54, 56, tzinfo=UTC)),
        ("2018-12-07T08:54:56+01:00", datetime(2018, 12, 7, 7, 54, 56, tzinfo=UTC)),
        ("2018-12-07T07:54:56", datetime(2018, 12, 7, 7, 54, 56, tzinfo=UTC)),
        (1544169296, datetime(2018, 12, 7, 7, 54, 56, tzinfo=UTC)),
        (1544169296.5, datetime(2018, 12, 7, 7, 54, 56, 500000, tzinfo=UTC)),
        (1544169296123, datetime(2018, 12, 7, 7, 54, 56, 123000, tzinfo=UTC)),
    ],
)
def test_value_ts_object_with_iso_or_epoch_seconds_or_ms(ts, expected):
    import json

    payload = json.dumps({"value": 28.4, "ts": ts, "seq": 7}).encode()
    [reading] = parse("raspberrypi/temp", payload)
    assert reading.topic == "raspberrypi.temp"
    assert reading.value == 28.4
    assert reading.ts == expected


def test_value_object_without_ts_uses_receive_time():
    assert parse("dev/t", b'{"value": 3}') == [ReadingIn(topic="dev.t", ts=RX, value=3.0)]


def test_key_values_on_the_device_topic():
    readings = parse("raspberrypi", b'{"temp": 28.4, "humidity": 41}')
    assert readings == [
        ReadingIn(topic="raspberrypi.temp", ts=RX, value=28.4),
        ReadingIn(topic="raspberrypi.humidity", ts=RX, value=41.0),
    ]


def test_key_values_with_a_shared_ts_and_nested_readings():
    readings = parse(
        "edison",
        b'{"temp": 20, "pot": {"value": 512, "ts": 1544169297}, "ts": 1544169296, "seq": 3}',
    )
    assert [(r.topic, r.value, r.ts.timestamp()) for r in readings] == [
        ("edison.temp", 20.0, 1544169296.0),
        ("edison.pot", 512.0, 1544169297.0),
    ]


def test_array_readings_without_ts_get_receive_time_plus_index_microseconds():
    readings = parse("dev/t", b'[1, {"value": 2}, {"value": 3, "ts": 1544169296}, "x"]')
    assert [(r.value, r.text, r.ts) for r in readings] == [
        (1.0, None, RX),
        (2.0, None, RX + timedelta(microseconds=1)),
        (3.0, None, datetime(2018, 12, 7, 7, 54, 56, tzinfo=UTC)),
        (None, "x", RX + timedelta(microseconds=3)),
    ]


def test_array_of_key_values():
    readings = parse("dev", b'[{"a": 1, "b": 2}, {"a": 3, "b": 4}]')
    assert [(r.topic, r.value, r.ts) for r in readings] == [
        ("dev.a", 1.0, RX),
        ("dev.b", 2.0, RX),
        ("dev.a", 3.0, RX + timedelta(microseconds=1)),
        ("dev.b", 4.0, RX + timedelta(microseconds=1)),
    ]


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("dev/t", b"\xff\xfe28", "not UTF-8"),
        ("dev/t", b"{not json", "malformed JSON"),
        ("dev/t", b"[1, 2", "malformed JSON"),
        ("dev/t", b"[[1]]", "may not hold arrays"),
        ("dev/t", b'{"value": [1, 2]}', "a number, a boolean or a string"),
        ("dev/t", b'{"ts": 1544169296}', "no value"),
        ("dev/t", b'{"value": 1, "ts": "yesterday"}', "ISO 8601"),
        ("dev/t", b'{"value": 1, "ts": true}', "boolean"),
        ("dev/t", b'{"value": 1, "ts": 1e300}', "out of range"),
        ("dev", b'{"a\\u0000b": 1}', "key contains a NUL character"),
        ("dev/t", b"on\x00off", "NUL character"),
        ("dev/t", b'{"value": "on\\u0000off"}', "NUL character"),
        ("bad.device/t", b"1", "invalid device name"),
        ("x" * 65 + "/t", b"1", "invalid device name"),
        ("dev//t", b"1", "empty topic level"),
        ("dev/t", b"1" * 2000, "exceeds 1024"),
        ("dev/" + "t" * 260, b"1", "longer than 255"),
        ("dev/t", b'{"' + b"k" * 260 + b'": 1}', "longer than 255"),
    ],
)
def test_unparsable_payloads_raise_with_a_reason(topic, payload, reason):
    with pytest.raises(PayloadError, match=reason):
        parse(topic, payload)


def test_broker_sys_topics_are_ignored():
    with pytest.raises(IgnoredTopic):
        parse("$SYS/broker/uptime", b"12 seconds")


def test_infinite_bare_values_are_kept_as_text():
    assert parse("dev/t", b"inf") == [ReadingIn(topic="dev.t", ts=RX, text="inf")]


@pytest.mark.parametrize(
    "payload", [b"", b"   ", b"[]", b"null", b"NaN", b"None", b'{"value": null}', b'""']
)
def test_empty_and_null_values_are_skipped_not_dead_lettered(payload):
    assert parse("dev/t", payload) == []


def test_nested_objects_flatten_and_dots_in_keys_become_underscores():
    assert parse("dev", b'{"a": {"x": 1, "y.z": [2, {"w": 3}]}, "b.c": 4}') == [
        ReadingIn(topic="dev.a.x", ts=RX, value=1.0),
        ReadingIn(topic="dev.a.y_z.0", ts=RX, value=2.0),
        ReadingIn(topic="dev.a.y_z.1.w", ts=RX, value=3.0),
        ReadingIn(topic="dev.b_c", ts=RX, value=4.0),
    ]


@pytest.mark.parametrize(
    ("topic", "payload", "series"),
    [
        ("dev/a\tb", b"1", "dev.a\tb"),
        ("dev/temp", b'{"humidity\\n%": 41}', "dev.temp.humidity\n%"),
        ("dev/x\u007f", b"1", "dev.x\u007f"),
    ],
    ids=["tab-in-level", "newline-in-key", "delete-in-level"],
)
def test_a_series_the_api_would_refuse_is_a_dead_letter(topic, payload, series):
    from telemetry.selectors import topic_is_valid

    with pytest.raises(PayloadError, match="is not a valid name"):
        parse(topic, payload)
    assert not topic_is_valid(topic=series)  # stored, it could never be read back


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"value": 1, "ts": "0001-01-01T00:00:00Z"}', "before 1970"),
        (b'{"value": 1, "ts": "0001-01-01T00:30:00+01:00"}', "time is out of range|before 1970"),
        (b'{"value": 1, "ts": -1}', "before 1970"),
        (b'{"temp": 1, "ts": "2024-05-03T12:00:01Z"}', "more than a day after"),
        (b'[{"value": 1, "ts": 1714564800}, {"value": 2, "ts": 4102444800}]', "more than a day"),
    ],
    ids=["year-1", "offset-before-year-1", "before-1970", "two-days-ahead", "one-of-an-array"],
)
def test_a_time_outside_1970_to_a_day_ahead_is_a_dead_letter(payload, reason):
    with pytest.raises(PayloadError, match=reason):
        parse("dev/t", payload)


def test_a_time_just_inside_the_window_is_kept():
    assert parse("dev/t", b'{"value": 1, "ts": "2024-05-02T11:59:59Z"}')[0].ts == datetime(
        2024, 5, 2, 11, 59, 59, tzinfo=UTC
    )
    assert parse("dev/t", b'{"value": 1, "ts": 0}')[0].ts == datetime(1970, 1, 1, tzinfo=UTC)
