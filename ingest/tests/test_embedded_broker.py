"""The ingester over MQTT 3.1.1 against the embedded amqtt broker that `make run` falls back to."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.tests.conftest import free_port, publish, stop_process, unique, wait_port
from ingest.tests.test_ingester import TS, drive, make_ingester, readings_of
from iotserver.devrun.__main__ import embedded_broker_config

pytestmark = [pytest.mark.mqtt, pytest.mark.django_db]


@pytest.fixture(scope="module")
def amqtt_broker(tmp_path_factory):
    port = free_port()
    config = embedded_broker_config(tmp_path_factory.mktemp("amqtt"), "127.0.0.1", port)
    amqtt = Path(sys.executable).parent / "amqtt"
    process = subprocess.Popen(
        [str(amqtt), "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port(port, timeout=20)
        yield type("Broker", (), {"url": f"mqtt://127.0.0.1:{port}", "port": port})
    finally:
        stop_process(process)


def test_ingester_stores_readings_over_mqtt_311(amqtt_broker):
    dev = unique("dev")
    ingester = make_ingester(amqtt_broker, unique("ing"), topic_filter=f"{dev}/#", protocol="3.1.1")
    try:
        publish(
            amqtt_broker.url,
            [(f"{dev}/temp", json.dumps({"value": 20 + i, "ts": TS + i})) for i in range(10)],
        )
        drive(ingester, until_received=10)
    finally:
        ingester.close()
    stored = readings_of(dev)[f"{dev}.temp"]
    assert [v for _, v, _ in stored] == [20.0 + i for i in range(10)]
    assert ingester.stats.totals["stored"] == 10
