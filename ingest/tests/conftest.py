"""A private Mosquitto per test session, a real file database for ingester subprocesses, and
helpers to publish at QoS 1 and to run ``manage.py ingest_mqtt`` as a supervisor would."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from django.conf import settings
from paho.mqtt.enums import CallbackAPIVersion

REPO = Path(__file__).resolve().parents[2]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, *, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


@dataclass
class Broker:
    url: str
    port: int
    process: subprocess.Popen | None = None


def start_mosquitto(directory: Path, *, extra: str = "") -> Broker:
    port = free_port()
    conf = directory / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        # Run as ourselves: as root, Mosquitto would switch to a user that cannot read tmp_path.
        f"user {getpass.getuser()}\n"
        "persistence false\n"
        "max_queued_messages 0\n"
        "max_inflight_messages 0\n"
        f"{extra or 'allow_anonymous true'}\n"
    )
    process = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_port(port)
    return Broker(url=f"mqtt://127.0.0.1:{port}", port=port, process=process)


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """A Mosquitto of our own: no other test's traffic, unlimited queues."""
    b = start_mosquitto(tmp_path_factory.mktemp("mosquitto"))
    yield b
    stop_process(b.process)


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def publish(url: str, messages: list[tuple[str, bytes | str]], *, window: int = 50) -> None:
    """Publish at QoS 1 and return once the broker acknowledged every message."""
    host, port = url.rsplit("/", 1)[-1].split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("pub"))
    client.max_inflight_messages_set(window)
    client.connect(host, int(port))
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=30)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def wait_until(predicate, *, timeout: float = 30, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# --- a real file database for subprocess ingesters ---------------------------------------
@dataclass
class FileDatabase:
    url: str
    env: dict[str, str]
    _pg_dsn: str | None = None
    _sqlite_path: Path | None = None
    _pg_admin: str | None = None
    _pg_name: str | None = None

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self._sqlite_path:
            with sqlite3.connect(self._sqlite_path, timeout=20) as conn:
                return conn.execute(sql.replace("%s", "?"), params).fetchall()
        import psycopg2

        conn = psycopg2.connect(self._pg_dsn)
        try:
            with conn, conn.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            conn.close()

    def _admin(self, *statements: str) -> None:
        import psycopg2

        conn = psycopg2.connect(self._pg_admin)
        conn.autocommit = True
        try:
            for statement in statements:
                conn.cursor().execute(statement)
        finally:
            conn.close()

    def outage_begin(self) -> None:
        """Writes start failing: PostgreSQL refuses connections (and drops the open ones);
        on SQLite the readings table disappears."""
        if self.is_postgres:
            self._admin(
                f'ALTER DATABASE "{self._pg_name}" ALLOW_CONNECTIONS false',
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{self._pg_name}'",
            )
        else:
            self.query("ALTER TABLE telemetry_reading RENAME TO telemetry_reading_offline")

    def outage_end(self) -> None:
        if self.is_postgres:
            self._admin(f'ALTER DATABASE "{self._pg_name}" ALLOW_CONNECTIONS true')
        else:
            self.query("ALTER TABLE telemetry_reading_offline RENAME TO telemetry_reading")

    @contextlib.contextmanager
    def write_lock(self):
        """Another session holds the readings' write lock until the block ends: the
        ingester's commit waits (PostgreSQL: for ever; SQLite: its busy timeout)."""
        if self.is_postgres:
            import psycopg2

            conn = psycopg2.connect(self._pg_dsn)
            try:
                with conn.cursor() as cursor:
                    cursor.execute("LOCK TABLE telemetry_reading IN ACCESS EXCLUSIVE MODE")
                yield
            finally:
                conn.rollback()
                conn.close()
            return
        conn = sqlite3.connect(self._sqlite_path, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()

    @property
    def is_postgres(self) -> bool:
        return self._pg_dsn is not None

    def values(self, topic_prefix: str) -> list[float]:
        rows = self.query(
            "SELECT value FROM telemetry_reading WHERE topic LIKE %s", (topic_prefix + "%",)
        )
        return [row[0] for row in rows]


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEMETRY_", "INGEST_"))}
    env.update(DEBUG="1", TELEMETRY_BACKEND="sql", PYTHONUNBUFFERED="1", LOG_LEVEL="INFO")
    env.pop("REDIS_URL", None)
    return env


@pytest.fixture(scope="session")
def file_db(tmp_path_factory):
    """A migrated database outside pytest-django: PostgreSQL when the suite runs on it
    (a database created and dropped here), else a SQLite file."""
    env = _base_env()
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in engine:
        import psycopg2

        cfg = settings.DATABASES["default"]
        name = unique("ingest_sub_")
        host, port, user = cfg["HOST"] or "127.0.0.1", cfg["PORT"] or 5432, cfg["USER"]
        admin = f"host={host} port={port} user={user} dbname=postgres"
        if cfg.get("PASSWORD"):
            admin += f" password={cfg['PASSWORD']}"
        conn = psycopg2.connect(admin)
        conn.autocommit = True
        conn.cursor().execute(f'CREATE DATABASE "{name}"')
        auth = f"{user}:{cfg['PASSWORD']}@" if cfg.get("PASSWORD") else f"{user}@"
        url = f"postgres://{auth}{host}:{port}/{name}"
        db = FileDatabase(
            url=url,
            env=env,
            _pg_dsn=admin.replace("dbname=postgres", f"dbname={name}"),
            _pg_admin=admin,
            _pg_name=name,
        )
    else:
        path = tmp_path_factory.mktemp("ingestdb") / "ingest.sqlite3"
        url = f"sqlite:///{path}"
        db = FileDatabase(url=url, env=env, _sqlite_path=path)
    env["DATABASE_URL"] = url
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=REPO,
        env=env,
        check=True,
        timeout=120,
    )
    yield db
    if db.is_postgres:
        conn.cursor().execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()


@dataclass
class IngesterProcess:
    """``manage.py ingest_mqtt`` in a subprocess, its log in a file."""

    args: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    logs: list[str] = field(default_factory=list)

    def start(self) -> IngesterProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "ingest_mqtt", *self.args],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_connected(self, *, timeout: float = 20) -> None:
        # The broker's SUBACK, not the CONNACK: only then is a publish sure to be delivered.
        assert wait_until(lambda: "subscribed to" in self.log(), timeout=timeout), self.log()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, *, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            subprocess.run(
                f"/tmp/tools/bin/py-spy dump --pid {self.process.pid} > /tmp/hang_dump.txt 2>&1",
                shell=True,
            )
            self.process.kill()
            self.process.wait(timeout=5)
            raise AssertionError(
                f"ingest_mqtt did not exit within {timeout}s of SIGTERM; its log:\n"
                + self.log()[-4000:]
            ) from None


@pytest.fixture
def ingester_process(file_db, broker, tmp_path):
    """``ingester_process(client_id, *extra_args)`` -> a started IngesterProcess."""
    started: list[IngesterProcess] = []

    def make(client_id: str, *extra: str, broker_url: str | None = None) -> IngesterProcess:
        args = ["--broker", broker_url or broker.url, "--client-id", client_id, *extra]
        proc = IngesterProcess(
            args=args, env=dict(file_db.env), log_path=tmp_path / f"{client_id}.log"
        )
        started.append(proc)
        return proc.start()

    yield make
    for proc in started:
        if proc.process and proc.process.poll() is None:
            proc.process.kill()
            proc.process.wait(timeout=5)
