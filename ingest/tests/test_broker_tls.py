"""mqtts:// end to end: the shipped Mosquitto configuration with its TLS listener, a CA and a
server certificate made with openssl as deploy/mosquitto/README.md ("TLS") says, accounts
from the registry; a device publishes with ``python -m sensors --ca-file``, the ingester
reads with the CA file and stores the readings, and a client without the CA is refused."""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.broker_accounts import AccountFiles, accounts_sync_step
from ingest.consumer import IngestOptions, MqttIngester
from ingest.mosquitto import free_port, mosquitto_binary, mosquitto_config_local, mosquitto_start
from ingest.tests.conftest import REPO, stop_process, unique
from telemetry.models import Reading
from telemetry.routers import telemetry_alias
from telemetry.services import device_create

pytestmark = [
    pytest.mark.mqtt,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto is not installed"),
    pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed"),
]


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_crt: Path
    server_key: Path


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_certificates(folder: Path, *, host: str = "localhost") -> Certificates:
    """A CA and a server certificate for ``host`` and 127.0.0.1 (the README's commands)."""
    folder.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=iotserver test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip
    openssl(
        "req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
        "-subj", f"/CN={host}",
        cwd=folder,
    )  # fmt: skip
    (folder / "server.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName=DNS:{host},IP:127.0.0.1\n"
    )
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext",
        cwd=folder,
    )  # fmt: skip
    return Certificates(folder / "ca.crt", folder / "server.crt", folder / "server.key")


class TlsBroker:
    """The shipped configuration with both listeners on free loopback ports."""

    def __init__(self, folder: Path) -> None:
        self.certs = make_certificates(folder / "certs")
        self.port, self.tls_port = free_port(), free_port()
        self.files = mosquitto_config_local(
            folder=folder / "broker",
            port=self.port,
            tls_port=self.tls_port,
            certfile=self.certs.server_crt,
            keyfile=self.certs.server_key,
            persistence=False,
        )
        self.ingest_user, self.ingest_password = "iotserver-ingest", secrets.token_urlsafe(16)
        self.process = None

    def url(self, username: str, password: str) -> str:
        return f"mqtts://{username}:{password}@localhost:{self.tls_port}"

    def start(self) -> None:
        """Accounts from the registry as it is now, then the broker."""
        accounts_sync_step(
            files=AccountFiles(
                password_file=self.files.password_file,
                acl_file=self.files.acl_file,
                ingest_urls=(self.url(self.ingest_user, self.ingest_password),),
            )
        )
        log = self.files.folder / "broker.log"
        self.process = mosquitto_start(self.files, port=self.tls_port, log=log)

    def close(self) -> None:
        if self.process is not None:
            stop_process(self.process)


@pytest.fixture
def tls_broker(tmp_path):
    broker = TlsBroker(tmp_path)
    yield broker
    broker.close()


def ingester_over_tls(broker: TlsBroker) -> MqttIngester:
    options = IngestOptions(
        broker_url=broker.url(broker.ingest_user, broker.ingest_password),
        client_id=broker.ingest_user,
        batch_size=50,
        max_wait=0.05,
        max_payload_bytes=1024,
        writers=0,
        ca_file=str(broker.certs.ca),
    )
    ingester = MqttIngester(options=options, stop_event=threading.Event())
    ingester.start()
    assert ingester.connected.wait(10), ingester.fatal
    return ingester


def sensors_env() -> dict[str, str]:
    """What a device has: no Django settings, no MQTT_CA_FILE of the test run."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
    }


def test_a_device_publishes_over_mqtts_and_the_ingester_stores_its_readings(tls_broker):
    device, password = device_create(owner_id=7, name=unique("tls"))
    tls_broker.start()
    ingester = ingester_over_tls(tls_broker)
    try:
        published = subprocess.run(
            [
                sys.executable, "-m", "sensors", "raspberrypi",
                "--broker", tls_broker.url(device.name, password),
                "--ca-file", str(tls_broker.certs.ca),
                "--name", device.name, "--count", "3", "--rate", "0",
            ],
            cwd=REPO, env=sensors_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert published.returncode == 0, published.stderr  # every reading acknowledged
        readings = Reading.objects.using(telemetry_alias()).filter(
            topic__startswith=f"{device.name}."
        )
        deadline = time.monotonic() + 10
        while readings.count() < 6 and time.monotonic() < deadline:
            ingester.step(timeout=0.1)
    finally:
        ingester.close()

    topics = sorted(readings.values_list("topic", flat=True))
    assert topics == [f"{device.name}.humidity"] * 3 + [f"{device.name}.temp"] * 3
    assert ingester.stats.totals["dead_lettered"] == 0


def test_a_client_without_the_ca_is_refused_by_tls_verification(tls_broker, tmp_path):
    device, password = device_create(owner_id=7, name=unique("tls"))
    tls_broker.start()
    other_ca = make_certificates(tmp_path / "other").ca

    for ca_certs in (None, str(other_ca)):  # the system's CAs; a CA that did not sign it
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device.name)
        client.username_pw_set(device.name, password)
        client.tls_set(ca_certs=ca_certs)
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            client.connect("localhost", tls_broker.tls_port)

    # The same client with the CA gets in: what failed above was the verification alone.
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=device.name)
    client.username_pw_set(device.name, password)
    client.tls_set(ca_certs=str(tls_broker.certs.ca))
    answered = threading.Event()
    codes = []
    client.on_connect = lambda c, u, f, rc, p: (codes.append(rc), answered.set())
    client.connect("localhost", tls_broker.tls_port)
    client.loop_start()
    try:
        assert answered.wait(5)
    finally:
        client.disconnect()
        client.loop_stop()
    assert not codes[0].is_failure, codes


def test_ingest_mqtt_logs_in_over_mqtts_with_mqtt_ca_file(tls_broker, file_db):
    tls_broker.start()
    env = {
        **file_db.env,
        "MQTT_URL": tls_broker.url(tls_broker.ingest_user, tls_broker.ingest_password),
        "MQTT_CA_FILE": str(tls_broker.certs.ca),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "ingest_mqtt", "--once", "--metrics-port", "0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert f"connected to localhost:{tls_broker.tls_port}" in done.stderr
    assert tls_broker.ingest_password not in done.stderr
