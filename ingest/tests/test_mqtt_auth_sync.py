"""mqtt_auth_sync against a real Mosquitto reading the files it writes."""

from __future__ import annotations

import contextlib
import threading

import paho.mqtt.client as mqtt
import pytest
from django.core.management import call_command
from paho.mqtt.enums import CallbackAPIVersion

from ingest.tests.conftest import start_mosquitto, stop_process, unique, wait_until
from telemetry.services import device_create

pytestmark = [pytest.mark.mqtt, pytest.mark.django_db]


class Session:
    """A connected MQTT client that records what it receives and how its CONNACK went."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.connack = threading.Event()
        self.refused: str | None = None
        self.received: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("c"))
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.connack.wait(10)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.refused = str(reason_code)
        self.connack.set()

    def publish(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def accepted_session(port: int, username: str, password: str) -> Session:
    """Connect once the broker has applied its reload (SIGHUP is handled asynchronously)."""
    for _ in range(40):
        session = Session(port, username, password)
        if session.refused is None:
            return session
        session.close()
        threading.Event().wait(0.25)
    raise AssertionError(f"{username} was never accepted")


@pytest.fixture
def secured_broker(tmp_path):
    password_file, acl_file, pid_file = (tmp_path / n for n in ("passwd", "acl", "pid"))
    password_file.write_text("")
    acl_file.write_text("")
    broker = start_mosquitto(
        tmp_path,
        extra=(
            f"allow_anonymous false\npassword_file {password_file}\n"
            f"acl_file {acl_file}\npid_file {pid_file}"
        ),
    )
    yield broker, password_file, acl_file, pid_file
    stop_process(broker.process)


def test_devices_publish_only_under_their_own_name_and_wrong_passwords_are_refused(
    secured_broker,
):
    broker, password_file, acl_file, pid_file = secured_broker
    device_a, password_a = device_create(owner_id=1, name=unique("alice"))
    device_b, password_b = device_create(owner_id=2, name=unique("bob"))
    sync = dict(
        password_file=str(password_file),
        acl_file=str(acl_file),
        ingest_url="mqtt://ingest:s3cret@127.0.0.1:1883",
        reload_pid_file=str(pid_file),
    )
    call_command("mqtt_auth_sync", **sync)
    assert "s3cret" not in password_file.read_text()

    ingest = accepted_session(broker.port, "ingest", "s3cret")
    shared = accepted_session(broker.port, "ingest", "s3cret")
    a = Session(broker.port, device_a.name, password_a)
    wrong = Session(broker.port, device_a.name, password_b)
    try:
        assert ingest.refused is None and a.refused is None
        assert wrong.refused == "Not authorized"
        ingest.client.subscribe("#", qos=1)
        shared.client.subscribe(f"$share/{unique('g')}/#", qos=1)  # scaled-out ingesters
        assert ingest.subscribed.wait(5) and shared.subscribed.wait(5)
        a.publish(f"{device_a.name}/temp", "21.5")
        a.publish(device_a.name, '{"temp": 21.5}')
        # Under somebody else's name: refused, and Mosquitto 2.0 drops the connection.
        with contextlib.suppress(RuntimeError):
            a.publish(f"{device_b.name}/temp", "99")
        # Broker order: had the refused message been forwarded, it would arrive before this.
        again = accepted_session(broker.port, device_a.name, password_a)
        again.publish(f"{device_a.name}/done", "1")
        again.close()
        assert wait_until(lambda: len(ingest.received) >= 3, timeout=10)
        assert sorted(t for t, _ in ingest.received) == sorted(
            [f"{device_a.name}/temp", device_a.name, f"{device_a.name}/done"]
        )
        assert wait_until(lambda: len(shared.received) >= 3, timeout=10)
        assert len(shared.received) == 3

        # A device registered later can log in once the broker reloaded the files.
        device_c, password_c = device_create(owner_id=1, name=unique("carol"))
        before = Session(broker.port, device_c.name, password_c)
        assert before.refused == "Not authorized"
        before.close()
        call_command("mqtt_auth_sync", **sync)
        accepted_session(broker.port, device_c.name, password_c).close()
    finally:
        for session in (ingest, shared, a, wrong):
            session.close()


def test_unchanged_registry_leaves_the_files_alone(tmp_path):
    device_create(owner_id=1, name=unique("dev"))
    paths = dict(password_file=str(tmp_path / "p"), acl_file=str(tmp_path / "a"))
    url = "mqtt://ingest:pw@localhost:1883"
    call_command("mqtt_auth_sync", ingest_url=url, **paths)
    first = (tmp_path / "p").read_text(), (tmp_path / "a").read_text()
    call_command("mqtt_auth_sync", ingest_url=url, **paths)
    assert ((tmp_path / "p").read_text(), (tmp_path / "a").read_text()) == first
