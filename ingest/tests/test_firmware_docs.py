"""Every documented payload of ``firmware_payloads`` (each cites its source) read by the
ingester as a device of that kind in a non-UTC zone: the series, values, texts, units, times,
skipped values, availability and ignored topics it must become."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from ingest.parsing import IgnoredTopic, MessageReader, PayloadError
from ingest.tests import firmware_payloads as docs
from sensors.sparkplug import Metric, payload_encode
from telemetry.records import DeviceProfile

NAME = "dev1"
TZ = "Europe/Berlin"
RX = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def reader(kind: str) -> MessageReader:
    profile = DeviceProfile(NAME, kind, TZ)
    found = MessageReader(profiles=lambda names: {NAME: profile} if NAME in names else {})
    found.prefetch([NAME])
    return found


def expected_time(raw) -> datetime:
    if raw is None:
        return RX
    if isinstance(raw, int | float):
        return datetime.fromtimestamp(raw, tz=UTC)
    parsed = datetime.fromisoformat(raw)
    return parsed.replace(tzinfo=ZoneInfo(TZ)) if parsed.tzinfo is None else parsed


def _matches(reading, expected, topic_series: str) -> bool:
    if "{name}" in expected.series:
        if reading.topic != expected.series.format(name=NAME):
            return False
    else:  # SenML / line protocol: the name inside the payload, under the topic's series
        tail = expected.series.replace("/", ".").rsplit(".", 1)[-1]
        if not reading.topic.startswith(topic_series + ".") or not (
            reading.topic.endswith("." + tail) or tail in reading.topic
        ):
            return False
    if expected.text is not None:
        return reading.text == expected.text
    return reading.text is None and reading.value == pytest.approx(expected.value)


@pytest.mark.parametrize("doc", docs.ALL_PAYLOADS, ids=lambda d: f"{d.kind}:{d.topic}")
def test_a_documented_payload_becomes_its_readings(doc):
    topic = doc.topic.format(name=NAME)
    decoded = reader(doc.kind).read(mqtt_topic=topic, payload=doc.payload, received_at=RX)
    topic_series = ".".join(topic.split("/"))
    unmatched = list(decoded.readings)
    for expected in doc.readings:
        found = next((r for r in unmatched if _matches(r, expected, topic_series)), None)
        assert found is not None, (expected, [(r.topic, r.value, r.text) for r in unmatched])
        unmatched.remove(found)
        if expected.unit is not None:
            assert found.unit == expected.unit, (expected, found)
    if doc.kind != "owntracks":  # OwnTracks: only DESIGN.md's six keys are series
        assert unmatched == [], [(r.topic, r.value, r.text) for r in unmatched]
    assert decoded.skipped == doc.skipped
    if doc.readings:
        assert decoded.readings[0].ts == expected_time(doc.time)
    # Nothing is lost: no two readings of one message share a series and a time.
    assert len({(r.topic, r.ts) for r in decoded.readings}) == len(decoded.readings)


@pytest.mark.parametrize("doc", docs.AVAILABILITY, ids=lambda d: f"{d.kind}:{d.topic}:{d.online}")
def test_a_documented_availability_message_sets_online(doc):
    topic = doc.topic.format(name=NAME)
    decoded = reader(doc.kind).read(mqtt_topic=topic, payload=doc.payload, received_at=RX)
    assert decoded.readings == []
    assert [event.online for event in decoded.events] == [doc.online]


@pytest.mark.parametrize("doc", docs.IGNORED, ids=lambda d: f"{d.kind}:{d.topic}")
def test_documented_command_and_metadata_topics_are_ignored(doc):
    with pytest.raises(IgnoredTopic):
        reader(doc.kind).read(
            mqtt_topic=doc.topic.format(name=NAME), payload=doc.payload, received_at=RX
        )


def test_the_documented_sparkplug_session_in_order():
    r = reader("sparkplug")
    for message in docs.SPARKPLUG:
        payload = payload_encode(
            timestamp_ms=message.timestamp_ms,
            seq=message.seq,
            metrics=[Metric(*metric) for metric in message.metrics],
            datatypes=message.datatypes,
        )
        topic = message.topic.format(name=NAME)
        if message is docs.SPARKPLUG_NDATA_UNKNOWN_ALIAS:
            with pytest.raises(PayloadError, match="unknown Sparkplug alias"):
                r.read(mqtt_topic=topic, payload=payload, received_at=RX)
            continue
        decoded = r.read(mqtt_topic=topic, payload=payload, received_at=RX)
        got = {(x.topic, x.value if x.text is None else x.text) for x in decoded.readings}
        for expected in message.readings:
            value = expected.text if expected.text is not None else expected.value
            assert (expected.series.format(name=NAME), value) in got, (message.topic, got)
        if message.online is not None:
            assert message.online in [event.online for event in decoded.events]
