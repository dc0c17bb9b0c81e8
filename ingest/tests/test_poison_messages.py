"""One bad message never stops ingestion: text no UTF-8 store can take is a dead letter at
parse time, and whatever the database itself refuses is isolated by the writer (the batch
split until the offender stands alone), against the real test database."""

from __future__ import annotations

import json

import pytest

from ingest.tests.conftest import publish, unique
from ingest.tests.test_ingester import drive, make_ingester, readings_of, rows

pytestmark = [pytest.mark.mqtt, pytest.mark.django_db]

TS = 1544169296


def dead_letters(device: str) -> list[tuple[str, str]]:
    return rows(
        "SELECT topic, reason FROM telemetry_deadletter WHERE topic LIKE %s ORDER BY id",
        (device + "%",),
    )


@pytest.mark.parametrize(
    "payload",
    [rb'{"value": "\ud800"}', rb'{"\udfff": 1}', rb'[{"value": 1, "ts": 1}, "\ud83d"]'],
    ids=["value", "key", "array-item"],
)
def test_a_lone_surrogate_is_a_dead_letter_and_the_next_reading_is_stored(broker, payload):
    dev = unique("dev")
    ingester = make_ingester(broker, unique("ing"), topic_filter=f"{dev}/#")
    try:
        publish(broker.url, [(f"{dev}/poison", payload), (f"{dev}/after", b"7")])
        drive(ingester, until_received=2)
        assert not ingester.stop_event.is_set() and ingester.fatal is None
    finally:
        ingester.close()

    assert [v for _, v, _ in readings_of(dev)[f"{dev}.after"]] == [7.0]
    assert [reason for _, reason in dead_letters(dev)] == [
        "text value is not encodable as UTF-8 (a lone surrogate)"
        if b"value" in payload or b"[" in payload
        else "key is not encodable as UTF-8 (a lone surrogate)"
    ]


def test_a_message_the_database_refuses_is_isolated_and_the_other_1999_are_stored(
    broker, monkeypatch
):
    # Let the surrogate past the parser, as any value the parser does not foresee would be:
    # the database driver itself refuses it, and only the writer stands between it and the
    # rest of the batch.
    monkeypatch.setattr("ingest.formats.values.encodable", lambda text: True)
    dev = unique("dev")
    ingester = make_ingester(broker, unique("ing"), topic_filter=f"{dev}/#", batch_size=2000)
    messages = [(f"{dev}/t", json.dumps({"value": i, "ts": TS + i}).encode()) for i in range(2000)]
    messages[1234] = (f"{dev}/t", rb'{"value": "\ud800", "ts": 1544170530}')
    try:
        publish(broker.url, messages, window=500)
        drive(ingester, until_received=2000, max_steps=400)
        assert ingester.fatal is None
    finally:
        ingester.close()

    stored = readings_of(dev)[f"{dev}.t"]
    assert len(stored) == 1999
    assert 1234.0 not in {v for _, v, _ in stored}
    ((topic, reason),) = dead_letters(dev)
    assert topic == f"{dev}.t"
    assert reason.startswith("storage refused: UnicodeEncodeError")
    assert ingester.stats.totals["dead_lettered"] == 1
    assert ingester.stats.totals["stored"] == 1999
