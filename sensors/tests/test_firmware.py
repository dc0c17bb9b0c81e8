"""What each firmware's simulated device publishes (``python -m sensors ... --kind``): topics,
payload shapes, retain flags and last wills built without a broker, then a few kinds end to
end through the system broker (what a subscriber receives, a will the broker sends)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from sensors.__main__ import main
from sensors.firmware import KINDS, FirmwareOptions, encoder
from sensors.publisher import DevicePublisher, PublisherOptions, broker_address

BROKER = os.environ.get("MQTT_URL", "mqtt://127.0.0.1:1883")
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
PI = ("temp", "humidity")
EDISON = ("temp", "pot")


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(kind: str, metrics=PI, clock=None, **options):
    return encoder(
        kind,
        name="dev-1",
        metrics=metrics,
        options=FirmwareOptions(**options),
        clock=clock or Clock(),
    )


def body(message):
    return json.loads(message.payload)


def test_every_kind_has_an_encoder_and_the_cli_offers_them():
    assert set(KINDS) == {
        "native",
        "tasmota",
        "esphome",
        "shelly",
        "zigbee2mqtt",
        "owntracks",
        "sparkplug",
        "senml",
    }
    with pytest.raises(ValueError, match="unknown firmware kind"):
        encoder("homie", name="x", metrics=PI)


def test_native_is_the_original_format_unchanged():
    device = make("native")
    assert device.will() is None and device.on_connect() == [] and device.flush() == []
    first = device.readings({"temp": 21.5, "humidity": 40.0})
    second = device.readings({"temp": 21.6, "humidity": 41.0})
    assert [m.topic for m in first] == ["dev-1/temp", "dev-1/humidity"]
    assert not any(m.retain for m in first + second)
    bodies = [body(m) for m in first + second]
    assert all(set(b) == {"value", "ts", "seq"} for b in bodies)
    assert [b["seq"] for b in bodies] == [1, 2, 3, 4]
    assert [b["value"] for b in bodies] == [21.5, 40.0, 21.6, 41.0]
    times = [b["ts"] for b in bodies]
    assert times == sorted(set(times)) and times[0] == T0  # strictly increasing, µs apart


def test_tasmota_sensor_message_lwt_and_local_time():
    clock = Clock()
    device = make("tasmota", clock=clock, tz="Europe/Berlin")
    assert device.will() == device.will().__class__("tele/dev-1/LWT", b"Offline", True)
    assert [(m.topic, m.payload, m.retain) for m in device.on_connect()] == [
        ("tele/dev-1/LWT", b"Online", True)
    ]
    (message,) = device.readings({"temp": 21.345, "humidity": 44.44})
    assert message.topic == "tele/dev-1/SENSOR" and not message.retain
    data = body(message)
    assert list(data) == ["Time", "AM2301", "TempUnit"]  # Time first, units last, as Tasmota
    assert data["AM2301"] == {"Temperature": 21.3, "Humidity": 44.4}
    assert data["TempUnit"] == "C"
    # Local time in the device's zone, no offset, with milliseconds (Tasmota's ``Time 4``).
    assert data["Time"] == "2023-11-14T23:13:20.000"
    local = datetime.fromisoformat(data["Time"]).replace(tzinfo=ZoneInfo("Europe/Berlin"))
    assert local.timestamp() == T0
    (again,) = device.readings({"temp": 21.3, "humidity": 44.4})
    assert body(again)["Time"] == "2023-11-14T23:13:20.001"  # same clock: still later


def test_tasmota_names_a_lone_probe_and_an_analog_input_like_tasmota():
    device = make("tasmota", metrics=EDISON)
    (message,) = device.readings({"temp": 25.04, "pot": 511.0})
    data = body(message)
    assert data["DS18B20"] == {"Temperature": 25.0}
    assert data["ANALOG"] == {"A0": 511} and isinstance(data["ANALOG"]["A0"], int)
    assert data["Time"] == "2023-11-14T22:13:20.000"  # default zone UTC
    assert data["TempUnit"] == "C"


def test_esphome_retains_bare_states_and_its_status():
    device = make("esphome", metrics=EDISON)
    assert (device.will().topic, device.will().payload, device.will().retain) == (
        "dev-1/status",
        b"offline",
        True,
    )
    assert [(m.topic, m.payload, m.retain) for m in device.on_connect()] == [
        ("dev-1/status", b"online", True)
    ]
    messages = device.readings({"temp": 23.44, "pot": 100.4})
    assert [(m.topic, m.payload, m.retain) for m in messages] == [
        ("dev-1/sensor/temperature/state", b"23.4", True),
        ("dev-1/sensor/potentiometer/state", b"100", True),
    ]


def test_shelly_gen2_notify_status_with_its_own_time():
    clock = Clock()
    device = make("shelly", clock=clock)
    assert (device.will().topic, device.will().payload, device.will().retain) == (
        "dev-1/online",
        b"false",
        False,
    )
    assert [(m.topic, m.payload) for m in device.on_connect()] == [("dev-1/online", b"true")]
    (message,) = device.readings({"temp": 21.36, "humidity": 44.44})
    assert message.topic == "dev-1/events/rpc"
    frame = body(message)
    assert frame["method"] == "NotifyStatus" and frame["src"] == "dev-1"
    assert frame["params"] == {
        "ts": T0,
        "temperature:0": {"id": 0, "tC": 21.4, "tF": 70.4},
        "humidity:0": {"id": 0, "rh": 44.4},
    }
    clock.now += 0.004  # within the same hundredth: the next frame is still later
    (later,) = device.readings({"temp": 21.0, "humidity": 40.0})
    assert body(later)["params"]["ts"] == round(T0 + 0.01, 2)


def test_zigbee2mqtt_state_on_the_friendly_name_and_bridge_state():
    device = make("zigbee2mqtt", friendly_name="living room/sensor")
    assert (device.will().topic, device.will().payload, device.will().retain) == (
        "dev-1/bridge/state",
        b'{"state":"offline"}',
        True,
    )
    assert [(m.topic, m.payload, m.retain) for m in device.on_connect()] == [
        ("dev-1/bridge/state", b'{"state":"online"}', True)
    ]
    (message,) = device.readings({"temp": 27.34, "humidity": 44.72})
    assert message.topic == "dev-1/living room/sensor" and not message.retain
    assert body(message) == {"temperature": 27.34, "humidity": 44.72}
    default = make("zigbee2mqtt")
    assert default.readings({"temp": 1.0, "humidity": 2.0})[0].topic == "dev-1/living room"


def test_owntracks_location_and_lwt():
    clock = Clock()
    device = make("owntracks", clock=clock, phone="pixel")
    will = device.will()
    assert will.topic == "owntracks/dev-1/pixel" and not will.retain
    assert body(will) == {"_type": "lwt", "tst": int(T0)}
    assert device.on_connect() == []
    fixes = [device.readings({"temp": 20.0, "humidity": 50.0})[0] for _ in range(3)]
    assert all(m.topic == "owntracks/dev-1/pixel" and m.retain for m in fixes)
    data = [body(m) for m in fixes]
    for fix in data:
        assert fix["_type"] == "location" and fix["tid"] == "el" and fix["conn"] == "w"
        assert -90 <= fix["lat"] <= 90 and -180 <= fix["lon"] <= 180
        assert 0 < fix["batt"] <= 100 and isinstance(fix["tst"], int)
        assert "temp" not in fix and "humidity" not in fix  # a phone reports its position
        assert {"acc", "alt"} <= set(fix)
    assert [fix["tst"] for fix in data] == [int(T0), int(T0) + 1, int(T0) + 2]
    steps = [abs(a["lat"] - b["lat"]) + abs(a["lon"] - b["lon"]) for a, b in zip(data, data[1:])]
    assert max(steps) < 0.01  # it walks, it does not jump
    # A reader that knows where it is supplies the position.
    (given,) = make("owntracks", metrics=("lat", "lon")).readings({"lat": 1.5, "lon": 2.5})
    assert (body(given)["lat"], body(given)["lon"]) == (1.5, 2.5)


def test_sparkplug_birth_with_aliases_data_by_alias_and_death():
    from sensors import sparkplug

    clock = Clock()
    device = make("sparkplug", clock=clock, group="plant")
    will = device.will()
    assert will.topic == "spBv1.0/plant/NDEATH/dev-1" and not will.retain
    death = sparkplug.payload_decode(will.payload)
    assert not death.HasField("seq")
    assert [(m.name, m.long_value) for m in death.metrics] == [("bdSeq", 0)]

    (birth_message,) = device.on_connect()
    assert birth_message.topic == "spBv1.0/plant/NBIRTH/dev-1" and not birth_message.retain
    birth = sparkplug.payload_decode(birth_message.payload)
    assert birth.seq == 0
    metrics = {m.name: m for m in birth.metrics}
    assert metrics["bdSeq"].long_value == 0
    assert metrics["bdSeq"].datatype == sparkplug.DATATYPES["Int64"]
    assert metrics["Node Control/Rebirth"].boolean_value is False
    assert {name: metrics[name].alias for name in PI} == {"temp": 1, "humidity": 2}
    assert all(metrics[name].datatype == sparkplug.DATATYPES["Double"] for name in PI)
    assert all(metrics[name].is_null for name in PI)  # no reading yet

    seqs, stamps = [], [birth.timestamp]
    for i in range(3):
        (message,) = device.readings({"temp": 21.0 + i, "humidity": 40.0 + i})
        assert message.topic == "spBv1.0/plant/NDATA/dev-1"
        data = sparkplug.payload_decode(message.payload)
        assert [(m.name, m.alias, m.double_value) for m in data.metrics] == [
            ("", 1, 21.0 + i),
            ("", 2, 40.0 + i),
        ]
        assert all(m.datatype == 0 for m in data.metrics)  # known from the birth
        seqs.append(data.seq)
        stamps.append(data.timestamp)
    assert seqs == [1, 2, 3]
    assert stamps == sorted(set(stamps))
    # A reconnect is a new birth: seq starts over, the last values are in it.
    rebirth = sparkplug.payload_decode(device.on_connect()[0].payload)
    assert rebirth.seq == 0
    assert {m.name: m.double_value for m in rebirth.metrics if m.alias} == {
        "temp": 23.0,
        "humidity": 42.0,
    }
    device.seq = 255
    (wrapped,) = device.readings({"temp": 1.0, "humidity": 2.0})
    assert sparkplug.payload_decode(wrapped.payload).seq == 0


def test_senml_packs_with_base_name_base_time_units_and_relative_times():
    clock = Clock()
    device = make("senml", clock=clock, batch=3)
    assert device.will() is None and device.on_connect() == []
    assert device.readings({"temp": 21.5, "humidity": 40.0}) == []
    clock.now += 1.5
    assert device.readings({"temp": 21.6, "humidity": 41.0}) == []
    clock.now += 1.5
    (message,) = device.readings({"temp": 21.7, "humidity": 42.0})
    assert message.topic == "dev-1/senml" and not message.retain
    assert body(message) == [
        {"bn": "dev-1:", "bt": T0, "n": "temp", "u": "Cel", "v": 21.5},
        {"n": "humidity", "u": "%RH", "v": 40.0},
        {"n": "temp", "u": "Cel", "t": 1.5, "v": 21.6},
        {"n": "humidity", "u": "%RH", "t": 1.5, "v": 41.0},
        {"n": "temp", "u": "Cel", "t": 3.0, "v": 21.7},
        {"n": "humidity", "u": "%RH", "t": 3.0, "v": 42.0},
    ]
    assert device.flush() == []
    device.readings({"temp": 1.0, "humidity": 2.0})
    (rest,) = device.flush()  # a partial pack is sent at the end, not lost
    assert len(body(rest)) == 2 and body(rest)[0]["bn"] == "dev-1:"
    (no_unit,) = make("senml", metrics=("pot",), batch=1).readings({"pot": 7.0})
    assert body(no_unit) == [{"bn": "dev-1:", "bt": T0, "n": "pot", "v": 7.0}]
    with pytest.raises(ValueError, match="at least one"):
        make("senml", batch=0)


def test_every_firmware_device_has_its_own_connection_and_will():
    native = DevicePublisher(options=PublisherOptions(devices=3))
    assert len(native.connections) == 1 and native.connections[0].will is None
    tasmota = DevicePublisher(options=PublisherOptions(devices=3, name="t", firmware="tasmota"))
    assert [c.client_id for c in tasmota.connections] == [
        "sensors-t-1",
        "sensors-t-2",
        "sensors-t-3",
    ]
    assert [c.will.topic for c in tasmota.connections] == [f"tele/t-{i}/LWT" for i in (1, 2, 3)]
    named = DevicePublisher(options=PublisherOptions(client_id="me", firmware="esphome"))
    assert [c.client_id for c in named.connections] == ["me"]


def test_cli_rejects_bad_firmware_settings(capsys):
    for argv, error in (
        (["--kind", "homie"], "invalid choice"),
        (["--kind", "senml", "--batch", "0"], "--batch must be positive"),
        (["--kind", "tasmota", "--tz", "Mars/Olympus"], "not a time zone"),
        (["--kind", "owntracks", "--phone", "a/b"], "not a topic level"),
        (["--kind", "zigbee2mqtt", "--friendly-name", "a//b"], "not topic levels"),
        (["--kind", "sparkplug", "--group", "g+"], "not a topic level"),
    ):
        with pytest.raises(SystemExit) as exited:
            main(["raspberrypi", "--count", "1", *argv])
        assert exited.value.code == 2
        assert error in capsys.readouterr().err


# End to end, through the system broker ---------------------------------------------------


class Listener:
    """Everything the broker sends under ``#`` for topics naming ``name``, with the retain
    flag as published (MQTT 5 ``retainAsPublished``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.messages: list[mqtt.MQTTMessage] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        host, port, *_ = broker_address(BROKER)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{name}-listener", protocol=mqtt.MQTTv5
        )
        options = SubscribeOptions(qos=1, retainAsPublished=True)
        self.client.on_connect = lambda c, *a: c.subscribe([("#", options)])
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        assert self.ready.wait(5), "the listener did not subscribe"

    def _on_message(self, client, userdata, message) -> None:
        if self.name in message.topic:
            with self.lock:
                self.messages.append(message)

    def wait_for(self, predicate, timeout: float = 10.0) -> list[mqtt.MQTTMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                got = list(self.messages)
            if predicate(got):
                return got
            time.sleep(0.05)
        with self.lock:
            return list(self.messages)

    def close(self) -> None:
        # Leave no retained message of this test's device on the shared broker.
        with self.lock:
            retained = {m.topic for m in self.messages if m.retain}
        for topic in retained:
            self.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def listen():
    listeners = []

    def start(name: str) -> Listener:
        listeners.append(Listener(name))
        return listeners[-1]

    yield start
    for listener in listeners:
        listener.close()


def run_cli(name: str, kind: str, *extra: str) -> int:
    argv = ["raspberrypi", "--kind", kind, "--broker", BROKER, "--name", name]
    return main([*argv, "--count", "2", "--rate", "0", "--log-level", "WARNING", *extra])


@pytest.mark.mqtt
def test_tasmota_end_to_end_lwt_sensor_and_offline_on_stop(listen):
    name = f"t{uuid.uuid4().hex[:10]}"
    listener = listen(name)
    assert run_cli(name, "tasmota", "--tz", "America/New_York") == 0
    got = listener.wait_for(lambda ms: len(ms) >= 4)
    assert [(m.topic, m.payload, m.retain) for m in got if m.topic.endswith("/LWT")] == [
        (f"tele/{name}/LWT", b"Online", True),
        (f"tele/{name}/LWT", b"Offline", True),
    ]
    sensors = [m for m in got if m.topic == f"tele/{name}/SENSOR"]
    assert len(sensors) == 2 and {m.qos for m in got} == {1}
    for message in sensors:
        data = json.loads(message.payload)
        assert set(data) == {"Time", "AM2301", "TempUnit"}
        assert set(data["AM2301"]) == {"Temperature", "Humidity"}
        local = datetime.fromisoformat(data["Time"])
        assert local.tzinfo is None
        now_there = datetime.now(UTC).astimezone(ZoneInfo("America/New_York"))
        assert abs((now_there.replace(tzinfo=None) - local).total_seconds()) < 60
    assert [m.topic for m in got].index(f"tele/{name}/SENSOR") > 0  # Online came first
    assert got[-1].payload == b"Offline"


@pytest.mark.mqtt
def test_sparkplug_end_to_end_birth_data_death(listen):
    from sensors import sparkplug

    name = f"s{uuid.uuid4().hex[:10]}"
    listener = listen(name)
    assert run_cli(name, "sparkplug", "--group", "e2e") == 0
    got = listener.wait_for(lambda ms: len(ms) >= 4)
    assert [m.topic for m in got] == [
        f"spBv1.0/e2e/NBIRTH/{name}",
        f"spBv1.0/e2e/NDATA/{name}",
        f"spBv1.0/e2e/NDATA/{name}",
        f"spBv1.0/e2e/NDEATH/{name}",
    ]
    birth, *data, death = (sparkplug.payload_decode(m.payload) for m in got)
    aliases = {m.name: m.alias for m in birth.metrics if m.alias}
    assert aliases == {"temp": 1, "humidity": 2}
    assert [d.seq for d in data] == [1, 2]
    assert all({m.alias for m in d.metrics} == {1, 2} for d in data)
    assert all(-40 <= m.double_value <= 100 for d in data for m in d.metrics)
    bd_seq = {m.name: m.long_value for m in birth.metrics}["bdSeq"]
    assert [(m.name, m.long_value) for m in death.metrics] == [("bdSeq", bd_seq)]


@pytest.mark.mqtt
def test_esphome_end_to_end_states_are_retained(listen):
    name = f"e{uuid.uuid4().hex[:10]}"
    listener = listen(name)
    assert run_cli(name, "esphome", "--devices", "2") == 0  # a connection per device
    devices = (f"{name}-1", f"{name}-2")
    got = listener.wait_for(lambda ms: len(ms) >= 12)
    assert len(got) == 12  # per device: online, 2 x (temperature, humidity), offline
    for device in devices:
        mine = [m for m in got if m.topic.startswith(device + "/")]
        assert [m.payload for m in mine if m.topic == f"{device}/status"] == [b"online", b"offline"]
        states = [m for m in mine if m.topic.endswith("/state")]
        assert {m.topic for m in states} == {
            f"{device}/sensor/temperature/state",
            f"{device}/sensor/humidity/state",
        }
        assert all(m.retain for m in mine)
        assert all(-40 <= float(m.payload) <= 100 for m in states)  # bare numbers


@pytest.mark.mqtt
def test_the_broker_sends_the_will_of_a_device_that_dies(listen):
    name = f"w{uuid.uuid4().hex[:10]}"
    listener = listen(name)
    argv = ["raspberrypi", "--kind", "zigbee2mqtt", "--broker", BROKER, "--name", name]
    process = subprocess.Popen(
        [sys.executable, "-m", "sensors", *argv, "--rate", "5", "--log-level", "WARNING"],
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    try:
        got = listener.wait_for(lambda ms: any(m.topic == f"{name}/living room" for m in ms))
        assert got and got[0].topic == f"{name}/bridge/state"
        assert (got[0].payload, got[0].retain) == (b'{"state":"online"}', True)
        process.send_signal(signal.SIGKILL)  # no clean stop: the broker speaks for it
        process.wait(timeout=10)
        got = listener.wait_for(lambda ms: ms[-1].topic == f"{name}/bridge/state", timeout=10)
        assert (got[-1].payload, got[-1].retain) == (b'{"state":"offline"}', True)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
