"""The `make run` supervisor: prefixed output, restarts, essential children, clean stop."""

from __future__ import annotations

import io
import re
import sys
import threading
import time
from pathlib import Path

import pytest

from iotserver.devrun.__main__ import banner, is_loopback
from iotserver.devrun.supervisor import Child, Supervisor

PY = sys.executable


def run_until(supervisor: Supervisor, condition, timeout: float = 20) -> int:
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(supervisor.run()), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.1)
    supervisor.stopping.set()
    thread.join(timeout=15)
    assert not thread.is_alive(), "supervisor did not stop"
    return result[0]


def test_output_is_prefixed_and_a_restartable_child_comes_back():
    out = io.StringIO()
    supervisor = Supervisor(out=out)
    flaky = Child("flaky", [PY, "-c", "print('hello', flush=True)"], restart=True)
    supervisor.add(flaky)
    code = run_until(supervisor, lambda: flaky.restarts >= 1 and out.getvalue().count("hello") >= 2)
    text = out.getvalue()
    assert code == 0
    assert "   flaky | hello" in text
    assert "restarting flaky in 1s (restart #1)" in text


def test_an_essential_child_exiting_stops_everything():
    out = io.StringIO()
    supervisor = Supervisor(out=out)
    sleeper = Child("sleeper", [PY, "-c", "import time; time.sleep(60)"], restart=True)
    supervisor.add(sleeper)
    supervisor.add(Child("web", [PY, "-c", "import sys; sys.exit(3)"]))
    started = time.monotonic()
    code = supervisor.run()
    assert code == 3
    assert "web is essential: stopping everything" in out.getvalue()
    assert sleeper.proc.poll() is not None  # stopped, not left behind
    assert time.monotonic() - started < 15


def test_stop_reaches_grandchildren():
    out = io.StringIO()
    supervisor = Supervisor(out=out, stop_timeout=5)
    script = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([{PY!r}, '-c', 'import time; time.sleep(60)'])\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = Child("parent", [PY, "-c", script])
    supervisor.add(parent)
    pids = lambda: re.findall(r"parent \| (\d+)", out.getvalue())  # noqa: E731
    run_until(supervisor, lambda: bool(pids()))
    grandchild = int(pids()[0])
    deadline = time.monotonic() + 5
    alive = True
    while time.monotonic() < deadline and alive:
        try:
            with open(f"/proc/{grandchild}/stat") as fh:
                alive = fh.read().split()[2] != "Z"
        except FileNotFoundError:
            alive = False
        time.sleep(0.1)
    assert not alive, "the child's own child survived the stop"


def test_banner_and_loopback():
    text = banner({"demo": "d-pass", "admin": "a-pass"}, "127.0.0.1:1883 (already running)")
    assert "demo@example.com / d-pass" in text and "admin@example.com / a-pass" in text
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("10.0.0.5") and not is_loopback("broker.example.com")


def test_without_mosquitto_the_banner_says_the_embedded_broker_is_open(tmp_path):
    from iotserver.devrun.__main__ import plan_embedded_broker

    plan = plan_embedded_broker(tmp_path, Path(PY).parent)

    assert plan.open_broker
    assert "OPEN BROKER" in plan.description and "without authentication" in plan.description
    assert plan.url.startswith("mqtt://127.0.0.1:")


@pytest.mark.django_db
def test_the_own_broker_plan_writes_the_ingesters_account_before_the_broker_starts(tmp_path):
    from iotserver.devrun.__main__ import INGEST_USER, plan_own_mosquitto

    plan = plan_own_mosquitto(tmp_path, "/usr/sbin/mosquitto", PY)

    passwd = (tmp_path / "mosquitto" / "passwd").read_text()
    assert passwd.startswith(f"{INGEST_USER}:$7$")
    ingest_url = plan.ingest_env["MQTT_URL"]
    assert ingest_url.startswith(f"mqtt://{INGEST_USER}:") and "@127.0.0.1:" in ingest_url
    assert "@" not in plan.url  # what every other child is given: the address only
    assert [c.name for c in plan.children] == ["broker", "accounts"]
    assert ingest_url.split("@")[0].split(":")[-1] not in " ".join(
        arg for child in plan.children for arg in child.argv
    )  # no password on a command line
