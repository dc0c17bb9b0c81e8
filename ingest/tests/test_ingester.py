"""The ingester in this process, step by step, against a real Mosquitto and the test database."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import connections

from ingest.consumer import IngestOptions, MqttIngester
from ingest.tests.conftest import publish, unique
from telemetry.routers import telemetry_alias

pytestmark = [pytest.mark.mqtt, pytest.mark.django_db]

TS = 1544169296  # 2018-12-07T07:54:56Z


def rows(sql: str, params: tuple) -> list[tuple]:
    with connections[telemetry_alias()].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def readings_of(device: str) -> dict[str, list[tuple]]:
    found: dict[str, list[tuple]] = {}
    for topic, ts, value, text in rows(
        "SELECT topic, ts, value, text FROM telemetry_reading WHERE topic LIKE %s ORDER BY ts",
        (device + "%",),
    ):
        if isinstance(ts, str):  # SQLite through a raw cursor
            ts = datetime.fromisoformat(ts)
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        found.setdefault(topic, []).append((ts, value, text))
    return found


def make_ingester(broker, client_id: str, **overrides) -> MqttIngester:
    options = IngestOptions(
        broker_url=broker.url,
        client_id=client_id,
        batch_size=overrides.pop("batch_size", 50),
        max_wait=0.05,
        max_payload_bytes=1024,
        writers=0,  # commit in this thread, inside the test's transaction
        **overrides,
    )
    stop = threading.Event()
    ingester = MqttIngester(options=options, stop_event=stop)
    # Bounded: a storage failure would otherwise be retried for as long as it lasts.
    timer = threading.Timer(60, stop.set)
    timer.daemon = True
    timer.start()
    ingester.start()
    assert ingester.connected.wait(10), "ingester did not connect"
    return ingester


def drive(ingester: MqttIngester, *, until_received: int, max_steps: int = 200) -> None:
    for _ in range(max_steps):
        ingester.step(timeout=0.1)
        if ingester.stats.totals["received"] >= until_received:
            return


def test_every_payload_format_lands_and_garbage_goes_to_dead_letters(broker):
    dev = unique("dev")
    ingester = make_ingester(broker, unique("ing"), topic_filter=f"{dev}/#")
    messages = [
        (f"{dev}/bare", b"28.4"),
        (f"{dev}/iso", json.dumps({"value": 1, "ts": "2018-12-07T07:54:56+00:00"})),
        (f"{dev}/sec", json.dumps({"value": 2, "ts": TS, "seq": 1})),
        (f"{dev}/ms", json.dumps({"value": 3, "ts": TS * 1000 + 123})),
        (f"{dev}/kv", json.dumps({"temp": 28.4, "humidity": 41, "ts": TS})),
        (f"{dev}/arr", json.dumps([{"value": 5, "ts": TS}, {"value": 6, "ts": TS + 1}])),
        (f"{dev}/text", b"open"),
        (f"{dev}/bad", b"{nope"),
        (f"{dev}/bin", b"\xff\xfe\x00"),
        (f"{dev}/big", b"1" * 2000),
        # Stored fine by SQLite, refused by PostgreSQL: each must be one dead letter, never a
        # failed batch retried for ever.
        (f"{dev}/nul", b"on\x00off"),
        (f"{dev}/long/" + "x" * 300, b"1"),
        (f"{dev}/after", b"7"),
    ]
    try:
        publish(broker.url, messages)
        drive(ingester, until_received=len(messages))
    finally:
        ingester.close()

    got = readings_of(dev)
    when = datetime.fromtimestamp(TS, tz=UTC)
    assert got[f"{dev}.iso"] == [(when, 1.0, None)]
    assert got[f"{dev}.sec"] == [(when, 2.0, None)]
    assert got[f"{dev}.ms"] == [(datetime.fromtimestamp(TS + 0.123, tz=UTC), 3.0, None)]
    assert got[f"{dev}.kv.temp"] == [(when, 28.4, None)]
    assert got[f"{dev}.kv.humidity"] == [(when, 41.0, None)]
    assert [v for _, v, _ in got[f"{dev}.arr"]] == [5.0, 6.0]
    assert [v for _, v, _ in got[f"{dev}.bare"]] == [28.4]
    assert [t for _, _, t in got[f"{dev}.text"]] == ["open"]
    assert [v for _, v, _ in got[f"{dev}.after"]] == [7.0]  # it kept going after the garbage
    dead = rows(
        "SELECT topic, reason FROM telemetry_deadletter WHERE topic LIKE %s ORDER BY topic",
        (dev + "%",),
    )
    assert [(topic.split("/")[1], reason) for topic, reason in dead] == [
        ("bad", "malformed JSON"),
        ("big", "payload of 2000 bytes exceeds 1024"),
        ("bin", "payload is not UTF-8"),
        ("long", "series is longer than 255 characters"),
        ("nul", "text value contains a NUL character"),
    ]
    assert len(dead[3][0]) == 255  # the dead letter keeps the topic's first 255 characters
    assert ingester.stats.totals["dead_lettered"] == 5
    assert ingester.stats.totals["received"] == len(messages)


def test_acknowledged_messages_are_not_redelivered_and_redeliveries_count_as_duplicates(broker):
    dev = unique("dev")
    client_id = unique("ing")
    ingester = make_ingester(broker, client_id, topic_filter=f"{dev}/#")
    try:
        publish(
            broker.url, [(f"{dev}/t", json.dumps({"value": i, "ts": TS + i})) for i in range(20)]
        )
        drive(ingester, until_received=20)
    finally:
        ingester.close()
    assert ingester.stats.totals["stored"] == 20

    # Same client id, persistent session: the broker holds nothing more for it.
    again = make_ingester(broker, client_id, topic_filter=f"{dev}/#")
    try:
        for _ in range(5):
            again.step(timeout=0.2)
        assert again.stats.totals["received"] == 0
        # A device resending the same readings (its own ts) stores nothing twice.
        publish(
            broker.url, [(f"{dev}/t", json.dumps({"value": i, "ts": TS + i})) for i in range(3)]
        )
        drive(again, until_received=3)
    finally:
        again.close()
    assert again.stats.totals["duplicates"] == 3
    assert len(readings_of(dev)[f"{dev}.t"]) == 20


def test_messages_published_while_the_ingester_is_down_are_kept_by_the_broker(broker):
    dev = unique("dev")
    client_id = unique("ing")
    first = make_ingester(broker, client_id, topic_filter=f"{dev}/#")
    first.close()  # the session (and its subscription) outlives the connection
    publish(broker.url, [(f"{dev}/t", json.dumps({"value": i, "ts": TS + i})) for i in range(30)])
    second = make_ingester(broker, client_id, topic_filter=f"{dev}/#")
    try:
        drive(second, until_received=30)
    finally:
        second.close()
    assert sorted(v for _, v, _ in readings_of(dev)[f"{dev}.t"]) == [float(i) for i in range(30)]


def test_broker_sys_topics_are_ignored(broker):
    ingester = make_ingester(broker, unique("ing"), topic_filter="$SYS/broker/uptime")
    try:
        for _ in range(30):  # Mosquitto publishes $SYS every 10 s by default; retained at once
            ingester.step(timeout=0.1)
            if ingester.stats.totals["received"]:
                break
    finally:
        ingester.close()
    assert ingester.stats.totals["ignored"] == ingester.stats.totals["received"] >= 1
    assert ingester.stats.totals["stored"] == 0


@pytest.mark.timeout(60)
def test_waiting_for_messages_survives_a_storm_of_signals(broker):
    """The main thread waits on the inbox while signals keep interrupting it (SIGTERM lands
    there): every wait still ends at its timeout, and a message published afterwards wakes it."""
    dev = unique("dev")
    ingester = make_ingester(broker, unique("ing"), topic_filter=f"{dev}/#")
    interrupted = 0

    def count(signum, frame):
        nonlocal interrupted
        interrupted += 1

    previous = signal.signal(signal.SIGUSR1, count)
    storm_over = threading.Event()

    def storm():
        rng = random.Random(7)
        while not storm_over.wait(rng.random() * 0.003):
            os.kill(os.getpid(), signal.SIGUSR1)

    thread = threading.Thread(target=storm, daemon=True)
    thread.start()
    worst = 0.0
    try:
        end = time.monotonic() + 3
        while time.monotonic() < end:
            started = time.monotonic()
            ingester.step(timeout=0.002)
            worst = max(worst, time.monotonic() - started)
            if worst > 5:
                break
    finally:
        storm_over.set()
        thread.join()
        signal.signal(signal.SIGUSR1, previous)
    try:
        assert interrupted > 200
        assert worst < 5, f"a step waited {worst:.1f}s for a 2 ms timeout"
        publish(broker.url, [(f"{dev}/t", b"1")])
        drive(ingester, until_received=1)
        assert ingester.stats.totals["received"] == 1
        assert ingester.stats.totals["stored"] == 1
    finally:
        ingester.close()
