"""Both deployments of iotserver as plain processes on this machine, without Docker.

    python -m benchmarks.topology up monolith|msa [--replicas auth=1,telemetry=2,ingest=2]
                                               [--state-dir DIR] [--name PREFIX] [--port N]
                                               [--foreground]
    python -m benchmarks.topology status [--state-dir DIR]
    python -m benchmarks.topology restart NAME [--state-dir DIR]
    python -m benchmarks.topology down [--state-dir DIR] [--drop]

``up`` creates the topology's PostgreSQL databases (fresh), migrates each with the role that
owns it, generates an RS256 key pair into the state directory, starts gunicorn instances
(``deploy/bin/web``, one loopback port each), ingesters (``deploy/bin/ingest``, one MQTT
shared-subscription group when there are several), optional Celery processes, and nginx
from ``deploy/nginx/`` as a user process on a loopback port; it waits for every instance's
``/readyz`` and for the gateway, then writes ``state.json`` (pids, ports, urls) so that
``down`` stops exactly the process groups it started. PostgreSQL and Redis must already
answer (TOPOLOGY_PG_URL, TOPOLOGY_REDIS_URL); the ``mosquitto`` binary must be installed.

Each topology runs its own authenticated broker: the shipped ``deploy/mosquitto/mosquitto.conf``
(``ingest.mosquitto``: anonymous clients refused, client ids bound to user names) on a free
loopback port with its files in ``<state dir>/broker/``, and ``broker-auth``
(``manage.py mqtt_auth_sync --watch`` on the telemetry database) keeping its password and ACL
files in step with the device registry, as in docker compose. Every ingester logs in with its
own account (``iotserver-ingest-<i>``, a random password in ``<state dir>/keys/``, handed to
the process in its environment and never written to ``state.json`` or a log); web, auth and
telemetry instances get ``MQTT_URL``/``MQTT_PUBLIC_URL`` without credentials, so
``POST /devices`` answers this broker's address. Devices publish with the password
``POST /devices`` returned (``Topology.device_register`` waits until the broker accepts it).
There is no option for an external broker.

From Python (benchmarks, tests)::

    with Topology.up("msa", replicas={"telemetry": 2}, supervise=True) as topo:
        topo.gateway_url            # http://127.0.0.1:<port>
        topo.kill("telemetry-1")    # SIGKILL its process group; the supervisor restarts it
        topo.broker_url             # mqtt://127.0.0.1:<port>, no credentials
        device = topo.device_register(token, "pi1")  # the 201 body: name, password, broker, ...
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

from ingest.mosquitto import MosquittoFiles, mosquitto_binary, mosquitto_config_local

logger = logging.getLogger("benchmarks.topology")

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
DEFAULT_STATE_DIR = Path(tempfile.gettempdir()) / "iotserver-topology"
HOST = "127.0.0.1"

KINDS = ("monolith", "msa")
# One worker and beat in each: account events (issue 16) travel as Celery tasks on Redis,
# and the worker applies them (beat runs the outbox relay that catches up after outages).
DEFAULT_REPLICAS = {
    "monolith": {"web": 2, "ingest": 1, "worker": 1, "beat": 1},
    "msa": {"auth": 1, "telemetry": 2, "web": 1, "ingest": 2, "worker": 1, "beat": 1},
}
# Which docker-compose host in deploy/nginx/upstreams/<kind>.conf stands for which group here.
UPSTREAM_HOSTS = {
    "monolith": {"web": "web"},
    "msa": {"auth": "auth", "telemetry": "telemetry", "dashboard": "web"},
}
WEB_GROUPS = ("web", "auth", "telemetry")
# The application's own processes (what a fault injection kills, what the suite measures);
# the gateway, the broker and its account sync are infrastructure around them.
APP_GROUPS = (*WEB_GROUPS, "ingest", "worker", "beat")
BROKER_GROUPS = ("broker", "broker-auth")
# Internal broker accounts start with "iotserver", a prefix no device may take.
INGEST_ACCOUNT = "iotserver-ingest-{index}"
# Inherited variables that would point a child at the caller's databases, keys or role.
SCRUBBED_ENV = re.compile(
    r"^(DATABASE_URL|TELEMETRY_DATABASE_URL|TELEMETRY_BACKEND|MONGO_URL|JWT_.*|IOTSERVER_ROLE|"
    r"REDIS_URL|SECRET_KEY|DEBUG|NUM_PROXIES|ALLOWED_HOSTS|INGEST_.*|GUNICORN_.*|"
    r"PROMETHEUS_MULTIPROC_DIR|prometheus_multiproc_dir|DJANGO_SETTINGS_MODULE|MQTT_.*)$"
)


class TopologyError(RuntimeError):
    """The topology could not be brought up; the message says which part and why."""


@dataclass
class Instance:
    """One supervised process: a gunicorn instance, an ingester, a Celery process, nginx, the
    broker or its account sync (``broker-auth``)."""

    name: str
    group: str
    argv: list[str]
    env: dict[str, str]
    log: str
    port: int | None = None
    pid: int | None = None
    start_time: str | None = None
    restarts: int = 0

    @property
    def url(self) -> str | None:
        return f"http://{HOST}:{self.port}" if self.port and self.group in WEB_GROUPS else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def parse_replicas(text: str) -> dict[str, int]:
    """``auth=1,telemetry=2`` -> ``{"auth": 1, "telemetry": 2}``."""
    replicas: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        group, sep, count = item.partition("=")
        if not sep or not count.strip().isdigit():
            raise argparse.ArgumentTypeError(f"--replicas: expected name=count, got {item!r}")
        replicas[group.strip()] = int(count)
    return replicas


def _proc_start_time(pid: int) -> str | None:
    """Kernel start time of ``pid``: tells our process from a later one that reused its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(instance: Instance) -> bool:
    if not instance.pid:
        return False
    try:
        stat = Path(f"/proc/{instance.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    # Same start time: our process, not a later one that reused the pid; Z: dead, unreaped.
    return stat[19] == instance.start_time and stat[0] != "Z"


def _port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, urllib.error.URLError):
        return None


def broker_login(
    port: int, username: str | None, password: str | None, *, host: str = HOST
) -> str | None:
    """One MQTT 5 CONNECT: ``None`` when the broker accepts it, else its refusal reason."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    answered, outcome = threading.Event(), {}

    def on_connect(client, userdata, flags, reason_code, properties):
        outcome["refused"] = str(reason_code) if reason_code.is_failure else None
        answered.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=username or f"probe-{secrets.token_hex(4)}",
        protocol=mqtt.MQTTv5,
    )
    if username is not None:
        client.username_pw_set(username, password)
    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=10)
    except OSError as exc:
        return f"no connection: {exc}"
    client.loop_start()
    try:
        if not answered.wait(5):
            return "no CONNACK within 5 s"
        return outcome["refused"]
    finally:
        client.disconnect()
        client.loop_stop()


def broker_wait_accepts(port: int, username: str, password: str, *, timeout: float) -> None:
    """Until the broker accepts ``username``'s login (its accounts follow the registry)."""
    deadline = time.monotonic() + timeout
    while (refused := broker_login(port, username, password)) is not None:
        if time.monotonic() > deadline:
            raise TopologyError(
                f"the broker still refuses {username} after {timeout:.0f}s: {refused}"
            )
        time.sleep(0.2)


def _tail(path: str, lines: int = 15) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    return ""


@dataclass
class Topology:
    """A monolith or microservice deployment of this checkout, as local processes."""

    kind: str
    replicas: dict[str, int] = field(default_factory=dict)
    state_dir: Path = DEFAULT_STATE_DIR
    name: str = "iot_topo"
    gateway_port: int = 0
    gunicorn_workers: int = 2
    gunicorn_threads: int = 4
    gateway_workers: str = "auto"
    login_rate: str = "10r/s"
    login_burst: int = 20
    topic_filter: str = "#"
    pg_url: str = field(
        default_factory=lambda: os.environ.get(
            "TOPOLOGY_PG_URL", "postgres://postgres@127.0.0.1:5432"
        )
    )
    redis_url: str = field(
        default_factory=lambda: os.environ.get("TOPOLOGY_REDIS_URL", "redis://127.0.0.1:6379/13")
    )
    broker_port: int = 0
    flush_redis: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    ready_timeout: float = 60.0
    instances: dict[str, Instance] = field(default_factory=dict)
    databases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise TopologyError(f"topology: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        merged = dict(DEFAULT_REPLICAS[self.kind])
        for group, count in self.replicas.items():
            group = "web" if group == "all" and self.kind == "monolith" else group
            if group not in merged:
                raise TopologyError(
                    f"--replicas: {group!r} is not part of {self.kind}; "
                    f"expected {', '.join(merged)}"
                )
            merged[group] = count
        if self.kind == "monolith" and merged["web"] < 1:
            raise TopologyError("--replicas: the monolith needs web>=1")
        if self.kind == "msa" and (merged["auth"] < 1 or merged["telemetry"] < 1):
            raise TopologyError("--replicas: msa needs auth>=1 and telemetry>=1")
        if merged["beat"] > 1:
            raise TopologyError("--replicas: at most one beat")
        self.replicas = merged
        self.state_dir = Path(self.state_dir)
        self._lock = threading.RLock()
        self._procs: dict[str, subprocess.Popen] = {}
        self._stopped: set[str] = set()
        self._supervisor: threading.Thread | None = None
        self._stop_supervisor = threading.Event()

    # --- public API ---------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def up(cls, kind: str, *, supervise: bool = False, drop_databases: bool = False, **options):
        """Start a topology, yield it ready, stop it (and optionally drop its databases)."""
        topology = cls(kind=kind, **options)
        try:
            topology.start(supervise=supervise)
            yield topology
        finally:
            topology.stop(drop_databases=drop_databases)

    @property
    def gateway_url(self) -> str:
        return f"http://{HOST}:{self.gateway_port}"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def broker_url(self) -> str:
        """The topology's broker, without credentials (what web instances and devices get)."""
        return f"mqtt://{HOST}:{self.broker_port}"

    @property
    def broker_files(self) -> MosquittoFiles:
        return MosquittoFiles(self.state_dir / "broker")

    @property
    def _ingest_passwords_file(self) -> Path:
        return self.state_dir / "keys" / "mqtt_ingest.json"

    def ingest_accounts(self) -> dict[str, str]:
        """User name -> password of every ingester account (from the state directory)."""
        try:
            return json.loads(self._ingest_passwords_file.read_text())
        except FileNotFoundError:
            return {}

    def _ingest_url(self, username: str) -> str:
        password = self.ingest_accounts()[username]
        return f"mqtt://{username}:{password}@{HOST}:{self.broker_port}"

    def device_register(
        self, token: str, name: str, *, kind: str = "native", timeout: float = 15.0
    ) -> dict:
        """``POST /devices`` through the gateway; the 201 body once the broker accepts the
        device's login (the registry reaches the broker within about two seconds).

        The check logs in as the device: with client ids bound to user names it would
        disconnect a session of that device, so call it before the device connects."""
        body = json.dumps({"name": name, "kind": kind}).encode()
        request = urllib.request.Request(  # noqa: S310 (loopback)
            f"{self.gateway_url}/devices",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                device = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise TopologyError(f"POST /devices {name}: {exc.code} {exc.read()[:300]!r}") from None
        broker_wait_accepts(self.broker_port, device["name"], device["password"], timeout=timeout)
        return device

    def group(self, group: str) -> list[Instance]:
        return [i for i in self.instances.values() if i.group == group]

    def start(self, *, supervise: bool = False) -> Topology:
        self._check_services()
        self._prepare_state_dir()
        self._create_databases()
        if self.flush_redis:
            import redis

            redis.Redis.from_url(self.redis_url).flushdb()
        self._plan()
        self._migrate()
        self._collectstatic()
        self._write_broker_config()
        # broker-auth writes the accounts before the broker starts, so that the ingesters
        # log in at once; the web processes start meanwhile.
        later = ("nginx", "broker", "ingest")
        for instance in self.instances.values():
            if instance.group not in later:
                self._spawn(instance)
        self._write_state()
        self.wait_ready("broker-auth")
        self._spawn(self.instances["broker"])
        self._write_state()
        self.wait_ready("broker")
        for instance in self.group("ingest"):
            self._spawn(instance)
        self._write_state()
        for instance in self.instances.values():
            if instance.group != "nginx":
                self.wait_ready(instance.name)
        self._write_gateway_config()
        self._spawn(self.instances["nginx"])
        self._write_state()
        self.wait_ready("nginx")
        if supervise:
            self.supervise()
        logger.info("%s topology ready at %s", self.kind, self.gateway_url)
        return self

    def stop(self, *, drop_databases: bool = False, timeout: float = 15.0) -> None:
        """SIGTERM every process group this topology started (nginx first), then SIGKILL;
        the broker last, so that stopping ingesters still acknowledge what they committed."""
        self._stop_supervisor.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        with self._lock:
            first = sorted(
                (i for i in self.instances.values() if i.group != "broker"),
                key=lambda i: i.group != "nginx",
            )
            for phase in (first, self.group("broker")):
                for instance in phase:
                    self._stopped.add(instance.name)
                    self._signal(instance, signal.SIGTERM)
                deadline = time.monotonic() + timeout
                for instance in phase:
                    self._wait_exit(instance, deadline)
        if drop_databases:
            self._drop_databases()
        with contextlib.suppress(OSError):
            self.state_file.unlink()

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to an instance's whole process group (a crash, not a shutdown)."""
        with self._lock:
            self._signal(self.instances[name], sig)

    def stop_instance(self, name: str, timeout: float = 15.0) -> None:
        """Stop one instance (SIGTERM, then SIGKILL) and keep the supervisor from restarting
        it until ``restart(name)``: an outage, e.g. of the broker."""
        with self._lock:
            instance = self.instances[name]
            self._stopped.add(name)
            self._signal(instance, signal.SIGTERM)
            self._wait_exit(instance, time.monotonic() + timeout)

    def restart(self, name: str, *, wait: bool = True) -> Instance:
        """Start an instance again on the same port (after a kill); stops it first if alive."""
        with self._lock:
            instance = self.instances[name]
            if _alive(instance):
                self._signal(instance, signal.SIGTERM)
                self._wait_exit(instance, time.monotonic() + 15)
            self._reap(instance)
            self._stopped.discard(name)
            instance.restarts += 1
            self._spawn(instance)
            self._write_state()
        if wait:
            self.wait_ready(name)
        return instance

    def supervise(self, interval: float = 0.5) -> None:
        """Restart, in a background thread, every instance that dies without being stopped."""
        if self._supervisor is not None:
            return
        self._stop_supervisor.clear()

        def loop() -> None:
            while not self._stop_supervisor.wait(interval):
                for name in list(self.instances):
                    with self._lock:
                        instance = self.instances[name]
                        if name in self._stopped or _alive(instance):
                            continue
                        logger.warning("%s (pid %s) died: restarting", name, instance.pid)
                    try:
                        self.restart(name, wait=False)
                    except Exception:  # keep supervising the others
                        logger.exception("restarting %s failed", name)

        self._supervisor = threading.Thread(target=loop, name="topology-supervisor", daemon=True)
        self._supervisor.start()

    def wait_ready(self, name: str, timeout: float | None = None) -> None:
        instance = self.instances[name]
        deadline = time.monotonic() + (timeout or self.ready_timeout)
        while time.monotonic() < deadline:
            with self._lock:  # a restart in the supervisor thread swaps pid and start time
                alive = _alive(instance)
                if not alive:
                    self._reap(instance)
            if not alive:
                raise TopologyError(
                    f"{name} exited while starting; last lines of {instance.log}:\n"
                    + _tail(instance.log)
                )
            if self._is_ready(instance):
                return
            time.sleep(0.2)
        raise TopologyError(
            f"{name} not ready after {timeout or self.ready_timeout:.0f}s; last lines of "
            f"{instance.log}:\n" + _tail(instance.log)
        )

    def alive(self, name: str) -> bool:
        """Whether the instance's current process (same pid and start time) is running."""
        with self._lock:
            return _alive(self.instances[name])

    def status(self) -> list[dict]:
        rows = []
        for instance in self.instances.values():
            alive = _alive(instance)
            probe = None
            if alive and instance.group == "broker":
                probe = "mqtt" if _port_answers(HOST, instance.port or 0) else None
            elif alive and instance.port:
                path = {"nginx": "/gateway/healthz", "ingest": "/metrics"}.get(
                    instance.group, "/readyz"
                )
                probe = http_status(f"http://{HOST}:{instance.port}{path}")
            rows.append(
                {
                    "name": instance.name,
                    "pid": instance.pid,
                    "alive": alive,
                    "port": instance.port,
                    "probe": probe,
                    "restarts": instance.restarts,
                }
            )
        return rows

    @classmethod
    def load(cls, state_dir: Path = DEFAULT_STATE_DIR) -> Topology:
        """The topology described by ``state_dir/state.json`` (for ``down``/``status``)."""
        path = Path(state_dir) / "state.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise TopologyError(f"no topology state at {path}") from None
        instances = {i["name"]: Instance(**i) for i in data.pop("instances")}
        topology = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        topology.instances = instances
        return topology

    # --- steps of start() ----------------------------------------------------------------

    def _check_services(self) -> None:
        for label, url, default_port in (
            ("PostgreSQL (TOPOLOGY_PG_URL)", self.pg_url, 5432),
            ("Redis (TOPOLOGY_REDIS_URL)", self.redis_url, 6379),
        ):
            parts = urlsplit(url)
            host, port = parts.hostname or HOST, parts.port or default_port
            if not _port_answers(host, port):
                raise TopologyError(f"{label}: nothing answers at {host}:{port}")
        if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
            raise TopologyError("nginx not found: apt-get install nginx (see .ci/system-packages)")
        if mosquitto_binary() is None:
            raise TopologyError(
                "mosquitto not found: apt-get install mosquitto (see .ci/system-packages)"
            )

    def _prepare_state_dir(self) -> None:
        if self.state_file.exists():
            previous = Topology.load(self.state_dir)
            if any(_alive(i) for i in previous.instances.values()):
                raise TopologyError(
                    f"a topology from {self.state_dir} is still running: "
                    f"`python -m benchmarks.topology down --state-dir {self.state_dir}` first"
                )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # nginx's workers drop root privileges: they must be able to reach their temp dirs.
        self.state_dir.chmod(0o711)
        # "broker": a fresh broker per run, no sessions or accounts of an earlier one.
        for sub in ("logs", "prometheus", "broker"):
            shutil.rmtree(self.state_dir / sub, ignore_errors=True)
            (self.state_dir / sub).mkdir()
        keys = self.state_dir / "keys"
        keys.mkdir(mode=0o700, exist_ok=True)
        private, public = keys / "jwt_private.pem", keys / "jwt_public.pem"
        if not private.exists():
            # Each topology has its own key pair, so no token from elsewhere is accepted.
            for argv in (
                [
                    "openssl",
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                    "-out",
                    str(private),
                ],
                ["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)],
            ):
                subprocess.run(argv, check=True, capture_output=True)
            private.chmod(0o600)
        secret = keys / "secret_key"
        if not secret.exists():
            secret.write_text(secrets.token_urlsafe(50))
            secret.chmod(0o600)
        # Fresh ingester accounts each time (the broker's files are new as well).
        accounts = {
            INGEST_ACCOUNT.format(index=i): secrets.token_urlsafe(24)
            for i in range(1, self.replicas["ingest"] + 1)
        }
        self._ingest_passwords_file.unlink(missing_ok=True)
        fd = os.open(self._ingest_passwords_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(accounts, handle)

    def _database_url(self, database: str) -> str:
        return f"{self.pg_url.rstrip('/')}/{database}"

    def _admin_sql(self, *statements: str) -> None:
        import psycopg2

        connection = psycopg2.connect(self._database_url("postgres"))
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            connection.close()

    def _create_databases(self) -> None:
        if self.kind == "monolith":
            self.databases = {"all": f"{self.name}_mono"}
        else:
            self.databases = {"auth": f"{self.name}_users", "telemetry": f"{self.name}_telemetry"}
        for database in self.databases.values():
            if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", database):
                raise TopologyError(f"--name: {database!r} is not a plain database name")
            self._admin_sql(
                f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)',
                f'CREATE DATABASE "{database}"',
            )

    def _drop_databases(self) -> None:
        for database in self.databases.values():
            with contextlib.suppress(Exception):
                self._admin_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not SCRUBBED_ENV.match(k)}
        keys = self.state_dir / "keys"
        env.update(
            {
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                "DJANGO_SETTINGS_MODULE": "iotserver.settings",
                "PYTHONUNBUFFERED": "1",
                "DEBUG": "0",
                "SECRET_KEY": (keys / "secret_key").read_text().strip(),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                # Plain HTTP on loopback: no redirect to HTTPS, no HSTS.
                "SECURE_SSL_REDIRECT": "0",
                "SECURE_HSTS_SECONDS": "0",
                "NUM_PROXIES": "1",
                "REDIS_URL": self.redis_url,
                # No credentials: web processes only probe the broker (a refused anonymous
                # CONNECT proves it up); devices are told this address by POST /devices.
                "MQTT_URL": self.broker_url,
                "MQTT_PUBLIC_URL": self.broker_url,
                "JWT_PUBLIC_KEY_FILE": str(keys / "jwt_public.pem"),
                "GUNICORN_WORKERS": str(self.gunicorn_workers),
                "GUNICORN_THREADS": str(self.gunicorn_threads),
            }
        )
        env.update(self.extra_env)
        return env

    def _role_env(self, role: str) -> dict[str, str]:
        """What a process of ``role`` needs, and nothing more (no private key for telemetry)."""
        keys = self.state_dir / "keys"
        env = {"IOTSERVER_ROLE": role}
        if role in ("all", "auth"):
            env["JWT_PRIVATE_KEY_FILE"] = str(keys / "jwt_private.pem")
        if self.kind == "monolith":
            env["DATABASE_URL"] = self._database_url(self.databases["all"])
        elif role == "all":
            env["DATABASE_URL"] = self._database_url(self.databases["auth"])
            env["TELEMETRY_DATABASE_URL"] = self._database_url(self.databases["telemetry"])
        else:
            env["DATABASE_URL"] = self._database_url(self.databases[role])
        return env

    def _plan(self) -> None:
        """Name, command, environment and port of every process."""
        logs = self.state_dir / "logs"
        self.instances = {}

        def add(group: str, index: int, argv: list[str], env: dict[str, str], port=None):
            name = f"{group}-{index}"
            self.instances[name] = Instance(
                name=name, group=group, argv=argv, env=env, log=str(logs / f"{name}.log"), port=port
            )

        web_roles = {"web": "all", "auth": "auth", "telemetry": "telemetry"}
        for group, role in web_roles.items():
            for index in range(1, self.replicas.get(group, 0) + 1):
                port = free_port()
                env = self._role_env(role) | {
                    "GUNICORN_BIND": f"{HOST}:{port}",
                    "PROMETHEUS_MULTIPROC_DIR": str(
                        self.state_dir / "prometheus" / f"{group}-{index}"
                    ),
                }
                add(group, index, [str(DEPLOY / "bin" / "web")], env, port)
        ingest_role = "all" if self.kind == "monolith" else "telemetry"
        count = self.replicas["ingest"]
        for index in range(1, count + 1):
            env = self._role_env(ingest_role) | {
                # The broker binds client ids to user names: the account's name is its id.
                # Its MQTT_URL, with the password, is added only when it is spawned.
                "INGEST_CLIENT_ID": INGEST_ACCOUNT.format(index=index),
                "INGEST_TOPIC_FILTER": self.topic_filter,
                "INGEST_SESSION_EXPIRY_SECONDS": "60",
            }
            if count > 1:
                env["INGEST_SHARED_GROUP"] = f"{self.name}-ingest"
            port = free_port()
            env["INGEST_METRICS_PORT"] = str(port)
            argv = [str(DEPLOY / "bin" / "ingest"), "--metrics-addr", HOST]
            add("ingest", index, argv, env, port)
        for index in range(1, self.replicas["worker"] + 1):
            add("worker", index, [str(DEPLOY / "bin" / "worker")], self._role_env("all"))
        if self.replicas["beat"]:
            env = self._role_env("all") | {
                "CELERY_BEAT_SCHEDULE_FILE": str(self.state_dir / "celerybeat-schedule")
            }
            add("beat", 1, [str(DEPLOY / "bin" / "beat")], env)
        files = self.broker_files
        self.broker_port = self.broker_port or free_port()
        binary = mosquitto_binary() or "/usr/sbin/mosquitto"
        self.instances["broker"] = Instance(
            name="broker",
            group="broker",
            argv=[binary, "-c", str(files.config)],
            env={},
            log=str(logs / "broker.log"),
            port=self.broker_port,
        )
        # The registry lives in the telemetry database; MQTT_INGEST_URLS (with the
        # passwords) is added only when it is spawned.
        self.instances["broker-auth"] = Instance(
            name="broker-auth",
            group="broker-auth",
            argv=[
                sys.executable,
                "manage.py",
                "mqtt_auth_sync",
                "--watch",
                "--password-file",
                str(files.password_file),
                "--acl-file",
                str(files.acl_file),
                "--reload-pid-file",
                str(files.pid_file),
            ],
            env=self._role_env(ingest_role),
            log=str(logs / "broker-auth.log"),
        )
        nginx_dir = self.state_dir / "nginx"
        port = self.gateway_port or free_port()
        self.gateway_port = port
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        argv = [nginx, "-c", str(nginx_dir / "nginx.conf"), "-p", str(nginx_dir)]
        self.instances["nginx"] = Instance(
            name="nginx", group="nginx", argv=argv, env={}, log=str(logs / "nginx.log"), port=port
        )

    def _run_manage(self, argv: list[str], role: str, label: str) -> None:
        env = self._base_env() | self._role_env(role)
        result = subprocess.run(
            argv, cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=300
        )
        if result.returncode != 0:
            raise TopologyError(f"{label} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")

    def _migrate(self) -> None:
        migrate = str(DEPLOY / "bin" / "migrate")
        for role in self.databases:
            self._run_manage([migrate], role, f"migrate ({role})")

    def _collectstatic(self) -> None:
        role = "all" if self.kind == "monolith" else "auth"
        argv = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"]
        self._run_manage(argv, role, "collectstatic")

    def _write_broker_config(self) -> None:
        """The shipped Mosquitto configuration on this topology's port and folder."""
        mosquitto_config_local(folder=self.broker_files.folder, port=self.broker_port)

    def _write_gateway_config(self) -> None:
        nginx_dir = self.state_dir / "nginx"
        nginx_dir.mkdir(exist_ok=True)
        nginx_dir.chmod(0o755)
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (nginx_dir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        values = {
            "GATEWAY_PREFIX": str(nginx_dir),
            "GATEWAY_WORKERS": self.gateway_workers,
            "GATEWAY_USER": "user nobody nogroup;" if os.geteuid() == 0 else "",
            "GATEWAY_LISTEN": f"{HOST}:{self.gateway_port}",
            "GATEWAY_LOGIN_RATE": self.login_rate,
            "GATEWAY_LOGIN_BURST": str(self.login_burst),
            "GATEWAY_ACCESS_LOG": (
                f"access_log {nginx_dir / 'access.log'} gateway buffer=64k flush=1s"
            ),
        }
        for template, target in (
            ("nginx.conf.template", "nginx.conf"),
            ("gateway.conf.template", "gateway.conf"),
        ):
            text = (DEPLOY / "nginx" / template).read_text()
            (nginx_dir / target).write_text(Template(text).safe_substitute(values))
        (nginx_dir / "upstreams.conf").write_text(self._upstreams())
        result = subprocess.run(
            [*self.instances["nginx"].argv, "-t", "-q"], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise TopologyError(f"nginx -t rejected the gateway config:\n{result.stderr}")

    def _upstreams(self) -> str:
        """deploy/nginx/upstreams/<kind>.conf with each container host replaced by this
        topology's loopback instances (same parameters, so both runs share one shape)."""
        hosts = UPSTREAM_HOSTS[self.kind]
        pattern = re.compile(r"^(\s*)server ([\w.-]+):8000(.*);$", re.MULTILINE)

        def servers(match: re.Match) -> str:
            indent, host, params = match.groups()
            ports = [i.port for i in self.group(hosts[host])]
            if not ports:  # nginx wants a server per upstream: a down one answers 503
                return f"{indent}server {HOST}:9 down;"
            return "\n".join(f"{indent}server {HOST}:{port}{params};" for port in ports)

        text = (DEPLOY / "nginx" / "upstreams" / f"{self.kind}.conf").read_text()
        return pattern.sub(servers, text)

    def _secret_env(self, instance: Instance) -> dict[str, str]:
        """Broker credentials, read from the state directory at each start of a process so
        that they never appear in state.json."""
        if instance.group == "ingest":
            return {"MQTT_URL": self._ingest_url(instance.env["INGEST_CLIENT_ID"])}
        if instance.group == "broker-auth":
            urls = [self._ingest_url(user) for user in self.ingest_accounts()]
            # Without ingesters: a placeholder internal account, so that the default
            # (MQTT_URL, which has no user:password) is not taken.
            fallback = f"mqtt://iotserver-none:{secrets.token_urlsafe(16)}@{HOST}:1"
            return {"MQTT_INGEST_URLS": ",".join(urls) or fallback}
        return {}

    def _spawn(self, instance: Instance) -> None:
        if instance.group in ("nginx", "broker"):
            env = {}
        else:
            env = self._base_env() | instance.env | self._secret_env(instance)
        with open(instance.log, "ab") as log:
            process = subprocess.Popen(
                instance.argv,
                cwd=REPO,
                env=env or None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: a stop or a kill reaches its workers too.
                start_new_session=True,
            )
        self._procs[instance.name] = process
        instance.pid, instance.start_time = process.pid, _proc_start_time(process.pid)

    def _is_ready(self, instance: Instance) -> bool:
        if instance.group == "broker":
            return _port_answers(HOST, instance.port or 0)
        if instance.group == "broker-auth":
            # Its first pass has written the files, every ingester account included.
            files = self.broker_files
            with contextlib.suppress(OSError):
                users = {line.split(":", 1)[0] for line in files.password_file.read_text().split()}
                written = files.acl_file.read_text().startswith("# Written by")
                return written and set(self.ingest_accounts()) <= users
            return False
        if instance.group == "nginx":
            if http_status(f"{self.gateway_url}/gateway/healthz") != 200:
                return False
            return not self.group("web") or http_status(f"{self.gateway_url}/readyz") == 200
        if instance.group in WEB_GROUPS:
            return http_status(f"{instance.url}/readyz") == 200
        if instance.group == "ingest":
            # Subscribed once the log says so; its metrics port answers from the start.
            return "subscribed to" in _tail(instance.log, 200) and _port_answers(
                HOST, instance.port or 0
            )
        return True  # Celery: alive is all we can tell from outside

    def _signal(self, instance: Instance, sig: int) -> None:
        if _alive(instance):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(instance.pid, sig)

    def _wait_exit(self, instance: Instance, deadline: float) -> None:
        """Wait for a signalled instance until ``deadline``, then SIGKILL its group."""
        while _alive(instance) and time.monotonic() < deadline:
            self._reap(instance)
            time.sleep(0.1)
        if _alive(instance):
            logger.warning("%s did not stop in time: SIGKILL", instance.name)
            self._signal(instance, signal.SIGKILL)
        self._reap(instance)

    def _reap(self, instance: Instance) -> None:
        process = self._procs.get(instance.name)
        if process is not None and process.pid == instance.pid:
            process.poll()

    def _write_state(self) -> None:
        data = {
            "kind": self.kind,
            "name": self.name,
            "state_dir": str(self.state_dir),
            "gateway_port": self.gateway_port,
            "gateway_url": self.gateway_url,
            "replicas": self.replicas,
            "databases": self.databases,
            "pg_url": self.pg_url,
            "redis_url": self.redis_url,
            "broker_port": self.broker_port,
            "broker_url": self.broker_url,
            "instances": [asdict(i) | {"url": i.url} for i in self.instances.values()],
        }
        for row in data["instances"]:
            row.pop("url")
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.state_file)


# --- command line -----------------------------------------------------------------------


def _print_status(topology: Topology) -> None:
    print(f"{topology.kind} gateway {topology.gateway_url}  state {topology.state_dir}")
    for row in topology.status():
        state = "up" if row["alive"] else "DOWN"
        probe = row["probe"] if row["probe"] is not None else "-"
        print(
            f"  {row['name']:<12} {state:<5} pid={row['pid']} port={row['port']} "
            f"probe={probe} restarts={row['restarts']}"
        )


def _foreground(topology: Topology) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    topology.supervise()
    _print_status(topology)
    print("supervising (dead instances are restarted); Ctrl-C stops everything", flush=True)
    stop.wait()
    topology.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.topology",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a topology and wait until it is ready")
    up.add_argument("kind", choices=KINDS)
    up.add_argument(
        "--replicas",
        type=parse_replicas,
        default={},
        help="e.g. auth=1,telemetry=2,web=1,ingest=2,worker=1,beat=1",
    )
    up.add_argument("--name", default="iot_topo", help="prefix of databases and client ids")
    up.add_argument("--port", type=int, default=0, help="gateway port (default: a free one)")
    up.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    up.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    up.add_argument(
        "--foreground",
        action="store_true",
        help="stay, restart instances that die, stop all on Ctrl-C",
    )
    for command in ("status", "down", "restart", "supervise"):
        commands.add_parser(command)
    commands.choices["restart"].add_argument("instance")
    commands.choices["down"].add_argument("--drop", action="store_true", help="drop databases")
    for sub in commands.choices.values():
        sub.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        if args.command == "up":
            topology = Topology(
                kind=args.kind,
                replicas=args.replicas,
                state_dir=args.state_dir,
                name=args.name,
                gateway_port=args.port,
                gunicorn_workers=args.workers,
                gunicorn_threads=args.threads,
            )
            try:
                topology.start()
            except BaseException:
                topology.stop()
                raise
            if args.foreground:
                return _foreground(topology)
            _print_status(topology)
            return 0
        topology = Topology.load(args.state_dir)
        if args.command == "status":
            _print_status(topology)
            return 0 if all(r["alive"] for r in topology.status()) else 3
        if args.command == "restart":
            topology.restart(args.instance)
            _print_status(topology)
            return 0
        if args.command == "supervise":
            return _foreground(topology)
        topology.stop(drop_databases=args.drop)
        print(f"stopped {len(topology.instances)} processes from {args.state_dir}")
        return 0
    except TopologyError as exc:
        print(f"topology: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
