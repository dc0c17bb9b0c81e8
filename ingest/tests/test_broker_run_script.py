"""``deploy/mosquitto/run.sh``, what the compose ``mosquitto`` service runs, as a plain process:
it waits for the account files, starts the shipped configuration, reloads the accounts by
itself when the files change (the writer, broker-auth, lives in another container and
cannot signal it), passes SIGTERM on and exits with the broker's exit code. Run by the
machine's ``sh`` and, when installed, by busybox (the eclipse-mosquitto image is Alpine)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from ingest.broker_accounts import BrokerAccount, acl_file_render, password_file_render
from ingest.mosquitto import free_port, mosquitto_binary, mosquitto_config_local
from telemetry.services import mqtt_password_hash

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "mosquitto" / "run.sh"
# The registry's promise: a change reaches the broker within 5 s (DESIGN.md); the files'
# writer takes up to a second of it, this script's poll another.
FILES_TO_BROKER_SECONDS = 5.0

pytestmark = [
    pytest.mark.mqtt,
    pytest.mark.skipif(mosquitto_binary() is None, reason="mosquitto is not installed"),
]
SHELLS = [
    pytest.param(["sh"], id="sh"),
    pytest.param(
        ["busybox", "sh"],
        id="busybox",
        marks=pytest.mark.skipif(not shutil.which("busybox"), reason="busybox not installed"),
    ),
]


def account(name: str, password: str) -> BrokerAccount:
    return BrokerAccount(
        name, mqtt_password_hash(password=password), publish=(f"{name}/#",), subscribe=()
    )


def write_atomically(path: Path, content: str) -> None:
    """As mqtt_auth_sync does: a new file beside it, renamed over it."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_text(content)
    os.replace(tmp, path)


def write_accounts(folder: Path, accounts: list[BrokerAccount]) -> None:
    write_atomically(folder / "passwd", password_file_render(accounts=accounts))
    write_atomically(folder / "acl", acl_file_render(accounts=accounts))


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for(predicate, *, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Login:
    """One MQTT 3.1.1 connection; ``refused`` once the CONNACK came."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.answered = threading.Event()
        self.disconnected = threading.Event()
        self.refused: bool | None = None
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username)
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self.disconnected.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.answered.wait(5), "no CONNACK"

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.refused = reason_code.is_failure
        self.answered.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def accepted(port: int, username: str, password: str) -> bool:
    login = Login(port, username, password)
    login.close()
    return not login.refused


class RunScript:
    """``sh run.sh CONFIG AUTH_DIR`` on the shipped configuration, on a free port."""

    def __init__(
        self,
        folder: Path,
        *,
        shell: list[str],
        accounts=None,
        extra: str = "",
        binary: str | None = None,
    ) -> None:
        self.port = free_port()
        self.files = mosquitto_config_local(
            folder=folder, port=self.port, persistence=False, extra=extra
        )
        for path in (self.files.password_file, self.files.acl_file):
            path.unlink()  # what broker-auth has not written yet
        if accounts is not None:
            write_accounts(folder, accounts)
        self.log = folder / "run.log"
        env = {**os.environ, "MOSQUITTO_BIN": binary or mosquitto_binary()}
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [*shell, str(SCRIPT), str(self.files.config), str(folder)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def broker_pid(self) -> int | None:
        found = re.search(r"mosquitto started \(pid (\d+)", self.log.read_text())
        return int(found.group(1)) if found else None

    def stop(self, *, timeout: float = 5) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        pid = self.broker_pid()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def run_script(tmp_path):
    started: list[RunScript] = []

    def start(**kwargs) -> RunScript:
        script = RunScript(tmp_path / f"broker{len(started)}", **kwargs)
        started.append(script)
        return script

    yield start
    for script in started:
        script.close()


@pytest.mark.parametrize("shell", SHELLS)
def test_it_waits_for_the_files_then_follows_every_change_by_itself(run_script, shell):
    script = run_script(shell=shell)
    time.sleep(1.2)
    assert script.process.poll() is None
    assert not listening(script.port)
    assert "waiting for" in script.log.read_text()

    write_accounts(script.files.folder, [account("alice", "pw-a")])
    assert wait_for(lambda: listening(script.port), timeout=5), script.log.read_text()
    alice = Login(script.port, "alice", "pw-a")
    assert alice.refused is False
    assert not accepted(script.port, "bob", "pw-b")

    # A new account: accepted within 5 s, with no signal from here.
    started = time.monotonic()
    write_accounts(script.files.folder, [account("alice", "pw-a"), account("bob", "pw-b")])
    assert wait_for(lambda: accepted(script.port, "bob", "pw-b"), timeout=5, interval=0.2)
    assert time.monotonic() - started < FILES_TO_BROKER_SECONDS
    assert not alice.disconnected.is_set()  # a reload keeps the clients it still accepts

    # An account gone: its open connection is closed.
    write_accounts(script.files.folder, [account("bob", "pw-b")])
    assert alice.disconnected.wait(FILES_TO_BROKER_SECONDS)
    assert not accepted(script.port, "alice", "pw-a")
    alice.close()

    broker = script.broker_pid()
    assert broker and alive(broker)
    assert script.stop() == 0  # mosquitto's own exit code after SIGTERM
    assert not alive(broker)
    assert not listening(script.port)


def test_a_change_while_the_broker_still_loads_waits_until_it_handles_sighup(run_script, tmp_path):
    """Before Mosquitto installs its handlers (it first loads its persistence file, which
    can take long), SIGHUP would end it: the reload waits until it can take one."""
    slow = tmp_path / "slow-mosquitto"
    slow.write_text(f'#!/bin/sh\nsleep 2\nexec {mosquitto_binary()} "$@"\n')
    slow.chmod(0o755)
    script = run_script(shell=["sh"], accounts=[account("alice", "pw-a")], binary=str(slow))
    time.sleep(0.3)
    write_accounts(script.files.folder, [account("alice", "pw-a"), account("bob", "pw-b")])

    assert wait_for(lambda: listening(script.port), timeout=10), script.log.read_text()
    assert wait_for(lambda: accepted(script.port, "bob", "pw-b"), timeout=5, interval=0.2)
    assert script.process.poll() is None, script.log.read_text()
    assert script.stop() == 0


@pytest.mark.parametrize("shell", SHELLS)
def test_sigterm_while_it_waits_for_the_files_ends_it_at_once(run_script, shell):
    script = run_script(shell=shell)
    time.sleep(0.5)
    started = time.monotonic()
    assert script.stop(timeout=3) == 0
    assert time.monotonic() - started < 2
    assert script.broker_pid() is None


def test_it_exits_with_the_brokers_exit_code(run_script):
    script = run_script(
        shell=["sh"], accounts=[account("alice", "pw-a")], extra="no_such_option true"
    )
    code = script.process.wait(timeout=10)
    direct = subprocess.run(
        [mosquitto_binary(), "-c", str(script.files.config)], capture_output=True, timeout=10
    )
    assert direct.returncode != 0
    assert code == direct.returncode


@pytest.mark.skipif(not shutil.which("mosquitto_sub"), reason="mosquitto_sub is not installed")
def test_the_compose_healthcheck_tells_an_answering_broker_from_none(run_script):
    """The mosquitto service's health check, pointed at this port: mosquitto_sub without an
    account is refused with CONNACK 5 by the authenticating broker, and that is healthy."""
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    kind, check = compose["services"]["mosquitto"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    command = check.replace("$$", "$")
    script = run_script(shell=["sh"], accounts=[account("alice", "pw-a")])
    command = command.replace("mosquitto_sub ", f"mosquitto_sub -h 127.0.0.1 -p {script.port} ")
    assert command.startswith("mosquitto_sub -h 127.0.0.1 -p")
    assert wait_for(lambda: listening(script.port), timeout=5), script.log.read_text()

    anonymous = subprocess.run(
        ["mosquitto_sub", "-p", str(script.port), "-V", "mqttv311", "-t", "x", "-C", "1"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    healthy = subprocess.run(["sh", "-c", command], timeout=10)
    script.stop()
    down = subprocess.run(["sh", "-c", command], timeout=10)

    assert anonymous.returncode == 5, anonymous.stderr  # "not authorised"
    assert healthy.returncode == 0
    assert down.returncode != 0
