"""The authenticated broker: the shipped Mosquitto configuration (``ingest.mosquitto``) on a
free port, its accounts kept by the ``mqtt_auth_sync --watch`` loop from the registry, and
real clients: devices, strangers and the ingester."""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading
import time
from dataclasses import replace

import paho.mqtt.client as mqtt
import pytest
from django.core.management import call_command
from paho.mqtt.enums import CallbackAPIVersion

from ingest.broker_accounts import AccountFiles, accounts_sync_step, accounts_watch
from ingest.consumer import IngestOptions, MqttIngester
from ingest.mosquitto import free_port, mosquitto_config_local, mosquitto_start
from ingest.tests.conftest import REPO, stop_process, unique, wait_until
from telemetry.services import device_create, device_delete, device_update

pytestmark = [pytest.mark.mqtt, pytest.mark.django_db(transaction=True)]

# The registry's promise: a change reaches the broker within this time, with no manual step.
REGISTRY_TO_BROKER_SECONDS = 5.0


class Session:
    """An MQTT 5 client that records its CONNACK, what it receives, and its disconnects."""

    def __init__(self, port: int, username: str | None, password: str | None, **kw) -> None:
        self.connack = threading.Event()
        self.refused: str | None = None
        self.disconnected = threading.Event()
        self.received: list[tuple[str, bytes]] = []
        self.granted: list = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=kw.get("client_id") or unique("c"),
            protocol=mqtt.MQTTv5,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self.disconnected.set()
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.connack.wait(10)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.refused = str(reason_code)
        self.connack.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.granted += reason_codes
        self.subscribed.set()

    def subscribe(self, *filters: str) -> None:
        self.subscribed.clear()
        self.client.subscribe([(f, 1) for f in filters])
        assert self.subscribed.wait(5)

    def publish(self, topic: str, payload: str):
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=10)
        return info

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def accepted_within(port: int, username: str, password: str, *, seconds: float) -> Session:
    """A session accepted within ``seconds``; fails the test otherwise."""
    deadline = time.monotonic() + seconds
    while True:
        session = Session(port, username, password)
        if session.refused is None:
            return session
        session.close()
        if time.monotonic() > deadline:
            raise AssertionError(f"{username} was not accepted within {seconds}s")
        time.sleep(0.1)


def refused_within(port: int, username: str, password: str, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        session = Session(port, username, password)
        session.close()
        if session.refused == "Not authorized":
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{username} was still accepted after {seconds}s")
        time.sleep(0.1)


class SecuredBroker:
    """The shipped configuration on a free port plus the registry-to-broker loop."""

    def __init__(self, folder, *, watch: bool = True) -> None:
        self.port = free_port()
        self.files = mosquitto_config_local(folder=folder, port=self.port)
        self.ingest_user, self.ingest_password = "iotserver-ingest", secrets.token_urlsafe(16)
        self.ingest_url = f"mqtt://{self.ingest_user}:{self.ingest_password}@127.0.0.1:{self.port}"
        self.accounts = AccountFiles(
            password_file=self.files.password_file,
            acl_file=self.files.acl_file,
            ingest_urls=(self.ingest_url,),
            pid_file=self.files.pid_file,
        )
        accounts_sync_step(files=replace(self.accounts, pid_file=None))  # before it starts
        self.process = mosquitto_start(self.files, port=self.port, log=folder / "broker.log")
        self.stop_watch = threading.Event()
        self.watch = threading.Thread(
            target=accounts_watch,
            kwargs={"files": self.accounts, "interval": 0.5, "stop": self.stop_watch},
            daemon=True,
        )
        if watch:
            self.watch.start()

    def sync(self) -> None:
        """One pass of the loop, in the caller's thread and database connection."""
        accounts_sync_step(files=self.accounts)

    def broker_stop(self) -> None:
        stop_process(self.process)

    def broker_start(self) -> None:
        self.process = mosquitto_start(
            self.files, port=self.port, log=self.files.folder / "broker.log"
        )

    def close(self) -> None:
        self.stop_watch.set()
        if self.watch.is_alive():
            self.watch.join(10)
        stop_process(self.process)


@pytest.fixture
def secured(tmp_path):
    broker = SecuredBroker(tmp_path)
    yield broker
    broker.close()


def make_ingester(secured: SecuredBroker) -> MqttIngester:
    options = IngestOptions(
        broker_url=secured.ingest_url,
        client_id=secured.ingest_user,
        batch_size=50,
        max_wait=0.05,
        max_payload_bytes=1024,
        writers=0,
    )
    ingester = MqttIngester(options=options, stop_event=threading.Event())
    ingester.start()
    assert ingester.connected.wait(10), ingester.fatal
    return ingester


def drain(ingester: MqttIngester, *, seconds: float = 1.5) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ingester.step(timeout=0.1)


def test_anonymous_clients_and_wrong_passwords_are_refused(secured):
    device, password = device_create(owner_id=1, name=unique("dev"))
    accepted_within(secured.port, device.name, password, seconds=5).close()

    anonymous = Session(secured.port, None, None)
    wrong = Session(secured.port, device.name, password + "x")
    for session in (anonymous, wrong):
        session.close()

    assert anonymous.refused == "Not authorized"
    assert wrong.refused == "Not authorized"


def test_a_device_publishes_with_its_credentials_and_the_reading_is_stored(secured, client_for):
    device, password = device_create(owner_id=7, name=unique("pi"))
    ingester = make_ingester(secured)
    session = accepted_within(
        secured.port, device.name, password, seconds=REGISTRY_TO_BROKER_SECONDS
    )
    try:
        info = session.publish(f"{device.name}/temp", '{"value": 21.5, "ts": 1700000000}')
        assert info.is_published()
        drain(ingester)
    finally:
        session.close()
        ingester.close()

    latest = client_for(user_id=7).get(f"/iot/{device.name}.temp/latest")
    assert latest.status_code == 200
    assert latest.json()["data"] == [{"date": "2023-11-14T22:13:20+00:00", "value": 21.5}]


def test_a_device_cannot_write_into_another_devices_topics(secured, client_for):
    alice, alice_pw = device_create(owner_id=1, name=unique("alice"))
    bob, _ = device_create(owner_id=2, name=unique("bob"))
    ingester = make_ingester(secured)
    session = accepted_within(secured.port, alice.name, alice_pw, seconds=5)
    try:
        forged = session.client.publish(f"{bob.name}/temp", "-40", qos=1)
        forged.wait_for_publish(timeout=10)
        session.publish(f"{alice.name}/temp", "21")  # broker order: after the forged one
        drain(ingester)
    finally:
        session.close()
        ingester.close()

    assert forged.rc == mqtt.MQTT_ERR_SUCCESS  # sent; the broker answered with a refusal
    staff = client_for(user_id=99, is_staff=True)
    assert staff.get(f"/iot/{bob.name}.temp/latest").status_code == 404
    assert staff.get(f"/iot/{alice.name}.temp/latest").status_code == 200
    assert ingester.stats.totals["dead_lettered"] == 0


def test_a_device_subscribing_to_everything_receives_nothing_of_others(secured):
    alice, alice_pw = device_create(owner_id=1, name=unique("alice"))
    bob, bob_pw = device_create(owner_id=2, name=unique("bob"))
    watcher = Session(secured.port, secured.ingest_user, secured.ingest_password)
    spy = accepted_within(secured.port, alice.name, alice_pw, seconds=5)
    victim = accepted_within(secured.port, bob.name, bob_pw, seconds=5)
    try:
        watcher.subscribe("#")
        spy.subscribe("#", f"{bob.name}/#", "$SYS/#", f"$share/g/{bob.name}/#")
        victim.publish(f"{bob.name}/temp", "21")
        victim.publish(f"{bob.name}/door/set", "open")
        assert wait_until(lambda: len(watcher.received) >= 2, timeout=5)
        time.sleep(0.5)  # anything forwarded to the spy would have come with the watcher's
    finally:
        for session in (watcher, spy, victim):
            session.close()

    assert spy.received == []
    assert sorted(t for t, _ in watcher.received) == [f"{bob.name}/door/set", f"{bob.name}/temp"]


def test_a_device_reads_its_own_command_topics(secured):
    device, password = device_create(owner_id=1, name=unique("relay"))
    watcher = Session(secured.port, secured.ingest_user, secured.ingest_password)
    own = accepted_within(secured.port, device.name, password, seconds=5)
    try:
        own.subscribe(f"{device.name}/+/set")
        own.publish(f"{device.name}/light/set", "ON")
        assert wait_until(lambda: own.received, timeout=5)
    finally:
        own.close()
        watcher.close()

    assert own.received == [(f"{device.name}/light/set", b"ON")]


def test_a_device_using_the_ingesters_client_id_does_not_evict_the_ingester(secured):
    device, password = device_create(owner_id=1, name=unique("evil"))
    ingester = Session(
        secured.port, secured.ingest_user, secured.ingest_password, client_id="iotserver-ingest"
    )
    ingester.subscribe("#")
    impostor = accepted_within(secured.port, device.name, password, seconds=5)
    impostor.close()
    impostor = Session(secured.port, device.name, password, client_id="iotserver-ingest")
    try:
        assert impostor.refused is None  # it gets in, under its own name as client id
        impostor.publish(f"{device.name}/temp", "1")
        assert wait_until(lambda: ingester.received, timeout=5)
        assert not ingester.disconnected.is_set()
    finally:
        impostor.close()
        ingester.close()


def test_registry_changes_reach_the_broker_within_five_seconds(secured):
    started = time.monotonic()
    device, password = device_create(owner_id=1, name=unique("dev"))
    session = accepted_within(
        secured.port, device.name, password, seconds=REGISTRY_TO_BROKER_SECONDS
    )
    assert time.monotonic() - started < REGISTRY_TO_BROKER_SECONDS

    # Disabled: the open connection is closed and a new login refused.
    started = time.monotonic()
    device_update(device=device, enabled=False)
    assert session.disconnected.wait(REGISTRY_TO_BROKER_SECONDS)
    refused_within(secured.port, device.name, password, seconds=1)
    assert time.monotonic() - started < REGISTRY_TO_BROKER_SECONDS
    session.close()

    device_update(device=device, enabled=True)
    session = accepted_within(
        secured.port, device.name, password, seconds=REGISTRY_TO_BROKER_SECONDS
    )
    started = time.monotonic()
    device_delete(device=device)
    assert session.disconnected.wait(REGISTRY_TO_BROKER_SECONDS)
    refused_within(secured.port, device.name, password, seconds=1)
    assert time.monotonic() - started < REGISTRY_TO_BROKER_SECONDS
    session.close()


def test_changes_made_while_the_broker_is_down_apply_when_it_comes_back(secured):
    staying, staying_pw = device_create(owner_id=1, name=unique("old"))
    accepted_within(secured.port, staying.name, staying_pw, seconds=5).close()
    secured.broker_stop()

    new, new_pw = device_create(owner_id=1, name=unique("new"))
    device_delete(device=staying)
    time.sleep(1.5)  # the loop has run while nothing listened
    secured.broker_start()
    started = time.monotonic()

    accepted_within(secured.port, new.name, new_pw, seconds=REGISTRY_TO_BROKER_SECONDS).close()
    refused_within(secured.port, staying.name, staying_pw, seconds=1)
    assert time.monotonic() - started < REGISTRY_TO_BROKER_SECONDS


def test_the_ingesters_account_reads_everything_alone_and_in_a_shared_group(secured):
    device, password = device_create(owner_id=1, name=unique("dev"))
    plain = Session(secured.port, secured.ingest_user, secured.ingest_password)
    publisher = accepted_within(secured.port, device.name, password, seconds=5)
    try:
        plain.subscribe("#")
        publisher.publish(f"{device.name}/a", "1")
        assert wait_until(lambda: plain.received, timeout=5)
        plain.close()
        shared = Session(secured.port, secured.ingest_user, secured.ingest_password)
        shared.subscribe(f"$share/{unique('g')}/#")
        publisher.publish(f"{device.name}/b", "2")
        assert wait_until(lambda: shared.received, timeout=5)
        shared.close()
    finally:
        publisher.close()

    assert shared.received == [(f"{device.name}/b", b"2")]


def test_ingest_mqtt_exits_2_naming_mqtt_url_when_its_credentials_are_refused(secured):
    url = f"mqtt://{secured.ingest_user}:wrong@127.0.0.1:{secured.port}"
    env = {"MQTT_URL": url, "DEBUG": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "manage.py", "ingest_mqtt", "--once"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2, done.stderr
    assert "MQTT_URL" in done.stderr
    assert "wrong" not in done.stderr  # the password is never printed


def test_a_device_named_like_the_ingester_is_left_out_of_the_files(tmp_path, settings):
    settings.MQTT_INTERNAL_USERNAMES = []  # as if registered before the account was configured
    from telemetry.models import Device

    Device.objects.create(name="collector", owner_id=1, mqtt_password_hash="$7$1$AA$AA")
    files = AccountFiles(
        password_file=tmp_path / "p",
        acl_file=tmp_path / "a",
        ingest_urls=("mqtt://collector:pw@localhost:1883",),
    )

    result = accounts_sync_step(files=files)

    assert result.skipped == ("collector",)
    assert "$7$1$AA$AA" not in files.password_file.read_text()
    assert files.acl_file.read_text().count("user collector") == 1


def test_unchanged_registry_leaves_the_files_alone(tmp_path):
    device_create(owner_id=1, name=unique("dev"))
    paths = dict(password_file=str(tmp_path / "p"), acl_file=str(tmp_path / "a"))
    url = "mqtt://iotserver-ingest:pw@localhost:1883"
    call_command("mqtt_auth_sync", ingest_urls=[url], **paths)
    first = (tmp_path / "p").read_text(), (tmp_path / "a").read_text()
    call_command("mqtt_auth_sync", ingest_urls=[url], **paths)
    assert ((tmp_path / "p").read_text(), (tmp_path / "a").read_text()) == first
    assert "pw" not in first[0].split(":", 1)[0]


def test_the_status_page_checks_the_broker_without_an_account(secured, settings):
    from iotserver.status import check_broker

    answered = check_broker(f"mqtt://127.0.0.1:{secured.port}")
    refused = check_broker(f"mqtt://{secured.ingest_user}:wrong@127.0.0.1:{secured.port}")

    assert answered["ok"] is True and answered["anonymous"] is False
    assert "refuses anonymous clients" in answered["detail"]
    assert refused["ok"] is False and "wrong" not in refused["detail"]
