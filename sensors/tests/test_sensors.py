"""The device publishers: realistic ranges, and what a broker subscriber actually receives."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from sensors.__main__ import main
from sensors.publisher import broker_address
from sensors.readers import SimulatedEdison, SimulatedRaspberryPi

BROKER = os.environ.get("MQTT_URL", "mqtt://127.0.0.1:1883")


def test_simulated_readings_stay_in_physical_ranges_and_drift():
    pi, edison = SimulatedRaspberryPi(seed=1), SimulatedEdison(seed=2)
    pi_values = [pi.read() for _ in range(2000)]
    ed_values = [edison.read() for _ in range(2000)]
    assert all(-40 <= r["temp"] <= 80 and 0 <= r["humidity"] <= 100 for r in pi_values)
    assert all(0 <= r["pot"] <= 1023 and r["pot"] == int(r["pot"]) for r in ed_values)
    temps = [r["temp"] for r in pi_values]
    assert len(set(temps)) > 50  # it moves
    steps = [abs(a - b) for a, b in zip(temps, temps[1:], strict=False)]
    assert max(steps) < 1.0  # and moves like a temperature, not like noise


def test_broker_url_with_credentials():
    assert broker_address("mqtts://dev%401:p%3Ass@broker.example:8884") == (
        "broker.example",
        8884,
        "dev@1",
        "p:ss",
        True,
    )
    with pytest.raises(ValueError, match="mqtt://"):
        broker_address("http://x")


@pytest.mark.mqtt
def test_cli_publishes_sequenced_timestamped_readings_at_qos1():
    name = f"t{uuid.uuid4().hex[:10]}"
    received: list[mqtt.MQTTMessage] = []
    ready = threading.Event()
    host, port, *_ = broker_address(BROKER)
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-sub")
    sub.on_connect = lambda c, *a: c.subscribe([(f"{name}-1/#", 1), (f"{name}-2/#", 1)])
    sub.on_subscribe = lambda *a: ready.set()
    sub.on_message = lambda c, u, m: received.append(m)
    sub.connect(host, port)
    sub.loop_start()
    try:
        assert ready.wait(5)
        argv = [
            "raspberrypi",
            "--broker",
            BROKER,
            "--name",
            name,
            "--devices",
            "2",
            "--count",
            "5",
            "--rate",
            "0",
            "--log-level",
            "WARNING",
        ]
        assert main(argv) == 0
        deadline = threading.Event()
        for _ in range(50):
            if len(received) >= 20:
                break
            deadline.wait(0.1)
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert len(received) == 20  # 2 devices x 5 readings x 2 metrics
    assert {m.topic for m in received} == {
        f"{name}-{i}/{metric}" for i in (1, 2) for metric in ("temp", "humidity")
    }
    assert {m.qos for m in received} == {1}
    for device in (f"{name}-1", f"{name}-2"):
        bodies = [json.loads(m.payload) for m in received if m.topic.startswith(device + "/")]
        assert sorted(b["seq"] for b in bodies) == list(range(1, 11))
        by_seq = sorted(bodies, key=lambda b: b["seq"])
        assert all(a["ts"] < b["ts"] for a, b in zip(by_seq, by_seq[1:], strict=False))
        assert all(set(b) == {"value", "ts", "seq"} for b in bodies)


def test_ca_file_defaults_to_mqtt_ca_file_and_must_exist(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("MQTT_CA_FILE", str(tmp_path / "missing.crt"))
    with pytest.raises(SystemExit) as exited:
        main(["raspberrypi", "--broker", "mqtts://dev:pw@127.0.0.1:8883", "--count", "1"])
    assert exited.value.code == 2
    assert "missing.crt: no such file" in capsys.readouterr().err


def test_the_ca_file_is_what_verifies_the_broker(tmp_path):
    from sensors.publisher import DevicePublisher, PublisherOptions

    not_a_ca = tmp_path / "ca.crt"
    not_a_ca.write_text("not a certificate\n")
    options = PublisherOptions(broker_url="mqtts://dev:pw@127.0.0.1:8883", ca_file=str(not_a_ca))
    with pytest.raises(ssl.SSLError):
        DevicePublisher(options=options)


def test_sensors_imports_nothing_of_django_or_the_app():
    code = (
        "import sys, sensors.__main__; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'django', 'iotserver', 'telemetry', 'ingest', 'accounts', 'dashboard'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert done.stdout.strip() == "[]"
