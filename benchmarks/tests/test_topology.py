"""Both deployments brought up by ``benchmarks.topology`` pass the same flow through the gateway.

Slow (each topology starts a dozen processes): marked ``topology``; deselect with
``-m "not topology"``. Needs PostgreSQL, Redis, Mosquitto and nginx on this machine.
Each topology runs its own authenticated broker; devices publish with the credentials
``POST /devices`` returned.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import paho.mqtt.client as mqtt
import pytest
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.topology import Topology, TopologyError, broker_login, parse_replicas

REPO = Path(__file__).resolve().parents[2]
# Each topology gets its own Redis database, flushed at start: throttle counters of one run
# (the same client address, 127.0.0.1) must not spill into the other.
REDIS_DBS = {"monolith": 11, "msa": 12, "cli": 10}


class Answer:
    def __init__(self, status: int, body: bytes) -> None:
        self.status_code, self.text = status, body.decode(errors="replace")

    def json(self):
        return json.loads(self.text)


def call(method: str, url: str, *, body: dict | None = None, headers=None) -> Answer:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read())


def get(url: str, headers=None) -> Answer:
    return call("GET", url, headers=headers)


def post(url: str, body: dict, headers=None) -> Answer:
    return call("POST", url, body=body, headers=headers)


pytestmark = [pytest.mark.topology, pytest.mark.mqtt, pytest.mark.timeout(240)]


def _start(kind: str, tmp_path_factory, **options) -> Topology:
    name = f"iot_t{os.getpid()}_{kind}"
    state_dir = tmp_path_factory.mktemp(f"topology-{kind}")
    redis_url = f"redis://127.0.0.1:6379/{REDIS_DBS[kind]}"
    topology = Topology(
        kind=kind, name=name, state_dir=state_dir, redis_url=redis_url, flush_redis=True, **options
    )
    try:
        topology.start(supervise=True)
    except TopologyError as exc:
        topology.stop(drop_databases=True)
        if any(s in str(exc) for s in ("nothing answers", "nginx not found", "mosquitto not")):
            pytest.skip(str(exc))
        raise
    return topology


@pytest.fixture(scope="module")
def monolith(tmp_path_factory):
    topology = _start("monolith", tmp_path_factory, replicas={"web": 2, "ingest": 1})
    yield topology
    topology.stop(drop_databases=True)


@pytest.fixture(scope="module")
def msa(tmp_path_factory):
    topology = _start(
        "msa", tmp_path_factory, replicas={"auth": 1, "telemetry": 2, "web": 1, "ingest": 2}
    )
    yield topology
    topology.stop(drop_databases=True)


class Device:
    """An MQTT connection logged in as a device, with what ``POST /devices`` returned."""

    def __init__(self, body: dict, timeout: float = 15.0) -> None:
        broker = urlsplit(body["broker"])
        self.accepted = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=body["username"], protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(body["username"], body["password"])
        self.client.on_connect = lambda c, u, f, rc, p: rc.is_failure or self.accepted.set()
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect(broker.hostname, broker.port)
        self.client.loop_start()
        # The registry reaches the broker within about two seconds: until then it refuses.
        if not self.accepted.wait(timeout):
            self.close()
            raise AssertionError(f"the broker did not accept {body['username']} in {timeout}s")

    def publish(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(timeout=5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def end_to_end(gateway: str, topology: Topology) -> dict:
    """Register, log in, create a device, publish over MQTT with the device's credentials
    from the 201 body, read it back, refresh, log out."""
    suffix = uuid.uuid4().hex[:10]
    email, password = f"user-{suffix}@example.com", f"correct-horse-{suffix}"
    response = post(
        f"{gateway}/auth/register",
        {"email": email, "username": f"user{suffix}", "password": password},
    )
    assert response.status_code == 201, response.text
    response = post(f"{gateway}/auth/login", {"email": email, "password": password})
    assert response.status_code == 200, response.text
    tokens = response.json()
    access, refresh = tokens["auth_token"], tokens["refresh_token"]

    device = f"dev{suffix}"
    response = post(f"{gateway}/devices", {"name": device}, headers=_bearer(access))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == created["username"] == device
    assert created["broker"] == topology.broker_url  # this topology's broker, no credentials
    assert created["publish"] == [f"{device}/#"] and created["password"]

    # A reading with its own ts is stored once however often it is sent, so resending until
    # the ingester (which may still be settling its subscription) has it is safe.
    stamp = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    payload = json.dumps({"value": 21.5, "ts": stamp.isoformat()})
    topic = f"{device}.temp"
    latest = None
    publisher = Device(created)
    try:
        for _ in range(30):
            publisher.publish(f"{device}/temp", payload)
            latest = get(f"{gateway}/iot/{topic}/latest", headers=_bearer(access))
            if latest.status_code == 200 and latest.json()["data"]:
                break
            time.sleep(1)
    finally:
        publisher.close()
    assert latest is not None and latest.status_code == 200, latest.text
    assert latest.json() == {
        "topic": topic,
        "unit": None,  # the device's payload carries none
        "data": [{"date": stamp.isoformat(), "value": 21.5}],
    }

    day = stamp.date().isoformat()
    ranged = get(f"{gateway}/iot/{topic}/{day}/{day}", headers=_bearer(access))
    assert ranged.status_code == 200, ranged.text
    assert [row["value"] for row in ranged.json()["data"]] == [21.5]
    topics = get(f"{gateway}/iot", headers=_bearer(access)).json()["data"]
    assert [t["topic"] for t in topics] == [topic]

    response = post(f"{gateway}/auth/refresh", {"refresh_token": refresh})
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert get(f"{gateway}/iot", headers=_bearer(rotated["auth_token"])).status_code == 200

    response = post(f"{gateway}/auth/logout", {"refresh_token": rotated["refresh_token"]})
    assert response.status_code == 204
    response = post(f"{gateway}/auth/refresh", {"refresh_token": rotated["refresh_token"]})
    assert response.status_code == 401
    # The rotated one, presented again (a stolen copy): refused.
    assert post(f"{gateway}/auth/refresh", {"refresh_token": refresh}).status_code == 401
    return {"access": rotated["auth_token"], "device": device, "topic": topic}


def _foreign_token() -> str:
    """Well-formed claims, signed with a key the deployment never saw."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    now = datetime.now(UTC)
    claims = {
        "token_type": "access",
        "user_id": 1,
        "is_staff": True,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "iss": "iotserver",
        "aud": "iotserver",
    }
    return jwt.encode(claims, pem, algorithm="RS256")


def test_monolith_end_to_end_through_the_gateway(monolith):
    end_to_end(monolith.gateway_url, monolith)


def test_msa_end_to_end_through_the_gateway(msa):
    end_to_end(msa.gateway_url, msa)


def test_the_topologys_broker_refuses_anonymous_clients_and_wrong_passwords(msa):
    assert broker_login(msa.broker_port, None, None) == "Not authorized"
    ingester = next(iter(msa.ingest_accounts()))
    assert broker_login(msa.broker_port, ingester, "wrong") == "Not authorized"
    # Each ingester logged in with its own account; the web processes hold no credentials,
    # and nothing the topology writes outside keys/ holds an ingester's password.
    for instance in msa.group("ingest"):
        assert f"as {instance.env['INGEST_CLIENT_ID']} " in Path(instance.log).read_text()
    assert urlsplit(msa._base_env()["MQTT_URL"]).password is None
    written = [msa.state_file, *Path(msa.state_dir, "logs").iterdir()]
    for password in msa.ingest_accounts().values():
        assert not any(password in path.read_text(errors="replace") for path in written)


def test_msa_telemetry_accepts_the_auth_services_token_and_refuses_a_foreign_key(msa):
    flow = end_to_end(msa.gateway_url, msa)
    for instance in msa.group("telemetry"):
        # Straight to each telemetry instance: no gateway, no call to the auth service.
        mine = get(f"{instance.url}/devices", headers=_bearer(flow["access"]))
        assert mine.status_code == 200
        body = mine.json()
        devices = body["data"] if isinstance(body, dict) else body
        assert [d["name"] for d in devices] == [flow["device"]]
        forged = get(f"{instance.url}/iot", headers=_bearer(_foreign_token()))
        assert forged.status_code == 401
    forged = get(f"{msa.gateway_url}/iot", headers=_bearer(_foreign_token()))
    assert forged.status_code == 401


def test_msa_roles_serve_only_their_own_routes(msa):
    telemetry, auth = msa.group("telemetry")[0], msa.group("auth")[0]
    response = post(f"{telemetry.url}/auth/login", {"email": "a@b.c", "password": "x"})
    assert response.status_code == 404
    assert get(f"{telemetry.url}/users").status_code == 404
    assert get(f"{auth.url}/iot").status_code == 404
    assert get(f"{auth.url}/devices").status_code == 404
    # The telemetry database has no users table at all.
    tables = subprocess.run(
        ["psql", msa._database_url(msa.databases["telemetry"]), "-Atc", "\\dt"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "telemetry_reading" in tables
    assert "accounts_user" not in tables


def test_django_sees_the_client_address_the_gateway_saw_not_a_forged_one(msa):
    """NUM_PROXIES=1 behind nginx: the login throttle keys on the address nginx put in
    X-Forwarded-For, whatever the client sent in that header itself."""
    answer = post(
        f"{msa.gateway_url}/auth/login",
        {"email": "nobody@example.com", "password": "wrong-password"},
        headers={"X-Forwarded-For": "203.0.113.7"},
    )
    assert answer.status_code == 401
    keys = [k.decode() for k in redis.Redis.from_url(msa.redis_url).keys("*throttle_login_ip_*")]
    assert any(k.endswith("throttle_login_ip_127.0.0.1") for k in keys), keys
    assert not any("203.0.113.7" in k for k in keys), keys


def test_the_gateway_rate_limits_login_at_the_edge(monolith):
    """A burst of concurrent logins from one address: beyond the edge's burst allowance nginx
    answers 429 itself, before the application (30 a minute per address) is even asked."""
    attempts = monolith.login_burst + 15

    def attempt(i: int) -> Answer:
        body = {"email": f"flood{i}@example.com", "password": "nope"}
        return post(f"{monolith.gateway_url}/auth/login", body)

    with ThreadPoolExecutor(max_workers=attempts) as pool:
        answers = list(pool.map(attempt, range(attempts)))
    statuses = sorted(a.status_code for a in answers)
    limited = [a for a in answers if a.status_code == 429]
    assert limited, statuses
    assert all("from this address" in a.json()["detail"] for a in limited), statuses
    assert set(statuses) == {401, 429}


def test_metrics_of_an_instance_add_up_all_its_workers(msa):
    instance = msa.group("telemetry")[1]
    for _ in range(20):
        assert get(f"{instance.url}/healthz").status_code == 200
    text = get(f"{instance.url}/metrics").text
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("django_http_requests_total_by_view_transport_method_total{")
        and 'view="healthz"' in line
    )
    # Each worker counts only what it served; the sum is right only across workers.
    assert counted == 20


def test_killing_a_telemetry_instance_loses_no_retryable_request(msa):
    flow = end_to_end(msa.gateway_url, msa)
    victim = msa.instances["telemetry-1"]
    old_pid = victim.pid
    statuses: list[int] = []
    killed = threading.Event()
    for i in range(300):
        if i == 50:
            msa.kill("telemetry-1", signal.SIGKILL)
            killed.set()
        response = get(f"{msa.gateway_url}/iot/{flow['topic']}", _bearer(flow["access"]))
        statuses.append(response.status_code)
    assert killed.is_set()
    assert statuses == [200] * 300
    # nginx did meet the dead instance and moved those requests on ("a, b" upstream lists).
    access_log = Path(msa.state_dir) / "nginx" / "access.log"
    retried = []
    deadline = time.monotonic() + 10
    while not retried and time.monotonic() < deadline:
        time.sleep(0.5)  # the access log is flushed every second
        lines = access_log.read_text().splitlines()
        retried = [line for line in lines if f"/iot/{flow['topic']} " in line and ", " in line]
    assert retried
    # The supervisor brings the instance back on its port.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and victim.pid == old_pid:
        time.sleep(0.2)
    assert victim.pid != old_pid
    msa.wait_ready("telemetry-1")
    assert get(f"{victim.url}/iot", headers=_bearer(flow["access"])).status_code == 200


def test_cli_up_status_down(tmp_path):
    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx not installed")
    state = tmp_path / "cli"
    python = str(REPO / ".venv" / "bin" / "python")
    python = python if Path(python).exists() else "python"
    base = [python, "-m", "benchmarks.topology"]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["TOPOLOGY_REDIS_URL"] = f"redis://127.0.0.1:6379/{REDIS_DBS['cli']}"
    up = subprocess.run(
        [*base, "up", "msa", "--replicas", "auth=1,telemetry=1,web=0,ingest=1",
         "--name", f"iot_t{os.getpid()}_cli", "--workers", "1", "--state-dir", str(state)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        data = json.loads((state / "state.json").read_text())
        names = {i["name"] for i in data["instances"]}
        assert names == {
            "auth-1",
            "telemetry-1",
            "ingest-1",
            "nginx",
            "broker",
            "broker-auth",
            # Account events: the Celery worker applies them, beat runs the outbox relay.
            "worker-1",
            "beat-1",
        }
        status = subprocess.run([*base, "status", "--state-dir", str(state)], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert status.returncode == 0, status.stdout
        # No dashboard in this run: its pages answer a JSON 503 instead of hanging.
        page = get(f"{data['gateway_url']}/")
        assert page.status_code == 503
        assert "detail" in page.json()
    finally:
        down = subprocess.run([*base, "down", "--drop", "--state-dir", str(state)], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert down.returncode == 0, down.stderr
    for instance in data["instances"]:
        stat = Path(f"/proc/{instance['pid']}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_replicas_option_is_parsed_and_checked():
    assert parse_replicas("auth=1,telemetry=3,ingest=2") == {
        "auth": 1,
        "telemetry": 3,
        "ingest": 2,
    }
    with pytest.raises(TopologyError, match="not part of monolith"):
        Topology(kind="monolith", replicas={"telemetry": 2})
    with pytest.raises(TopologyError, match="auth>=1"):
        Topology(kind="msa", replicas={"auth": 0})
