"""Telemetry query benchmark: 10 million readings on PostgreSQL, server-side and over HTTP.

    python -m benchmarks.telemetry_bench [--rows N --topics T] [--reuse-data] [--threads N]

One run, on this machine (see benchmarks/README.md, "Telemetry queries"):

1. Setup (not measured): fresh PostgreSQL databases ``iot_bench_telemetry`` (``--rows``
   readings over ``--topics`` topics, one reading a second per topic, plus ``--day-topics``
   topics holding one full day at 1 Hz) and ``iot_bench_telemetry_small`` (``--small-rows``
   readings over the same topics), migrated with ``manage.py migrate``, loaded with COPY from
   a generator, topic summaries and devices filled to match, ``VACUUM ANALYZE``.
2. Server-side latency, in a Django child process calling the selectors and the storage:
   latest (index path with ``TELEMETRY_CACHE_SECONDS=0``, both databases interleaved, and the
   cached path), a 1-hour range (3,600 rows) and a 1-day 1-minute aggregate; median, p99 and
   the SQL queries per call, plus ``EXPLAIN (ANALYZE, BUFFERS)`` of each query.
3. HTTP: gunicorn (``deploy/gunicorn.conf.py``, 2 workers, gthread) serving
   ``benchmarks.settings`` with Redis as the cache; wrk with a valid token, 32 connections,
   ``/iot/<topic>/latest`` rotating over every topic vs ``/bench/constant``, runs interleaved.

Prints a table and writes ``benchmarks/reports/telemetry-<timestamp>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import logging
import math
import os
import random
import re
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

logger = logging.getLogger("benchmarks.telemetry_bench")

REPO = Path(__file__).resolve().parent.parent
REPORTS = REPO / "benchmarks" / "reports"
PYTHON = sys.executable
BIN = Path(PYTHON).parent
HOST = "127.0.0.1"

METRICS = ("temp", "humidity", "pressure", "light")
DAY = 86_400
BENCH_OWNER_ID = 1  # the token's user owns every bench device: the ownership check runs

# Inherited variables that would point a child at other databases, keys, roles or caches.
SCRUBBED_ENV = re.compile(
    r"^(DATABASE_URL|TELEMETRY_DATABASE_URL|TELEMETRY_.*|MONGO_URL|JWT_.*|IOTSERVER_ROLE|"
    r"REDIS_URL|SECRET_KEY|DEBUG|NUM_PROXIES|ALLOWED_HOSTS|GUNICORN_.*|SECURE_.*|"
    r"PROMETHEUS_MULTIPROC_DIR|prometheus_multiproc_dir|DJANGO_SETTINGS_MODULE|LOG_LEVEL)$"
)


# --- data -----------------------------------------------------------------------------
def topic_specs(*, rows: int, topics: int, day_topics: int, end: int) -> list[dict]:
    """Every topic to load: name, device, readings, and where its 1 Hz series starts.

    Every series ends up to a minute before ``end`` (epoch seconds): recent data, as in a
    running system, so the rollup job has only the loaded days to catch up on.
    """
    per_topic, extra = divmod(rows, topics)
    specs = []
    for j in range(topics):
        n = per_topic + (1 if j < extra else 0)
        device = f"bench-{j // len(METRICS):04d}"
        specs.append(
            {
                "name": f"{device}.{METRICS[j % len(METRICS)]}",
                "device": device,
                "metric": METRICS[j % len(METRICS)],
                "rows": n,
                "first": end - j % 60 - n,  # topics do not all end on the same second
                "seed": j,
                "kind": "regular",
            }
        )
    for k in range(day_topics):
        device = f"benchday-{k}"
        specs.append(
            {
                "name": f"{device}.temp",
                "device": device,
                "metric": "temp",
                "rows": DAY,
                "first": end - k - DAY,
                "seed": 1_000_000 + k,
                "kind": "day",
            }
        )
    return specs


def _value(metric: str, t: float, phase: float, rng: random.Random) -> float:
    daily = math.sin(2 * math.pi * t / DAY + phase)
    if metric == "temp":
        return 22.0 + 4.0 * daily + rng.gauss(0, 0.15)
    if metric == "humidity":
        return 50.0 - 12.0 * daily + rng.gauss(0, 0.5)
    if metric == "pressure":
        return 1013.0 + 6.0 * math.sin(2 * math.pi * t / (3 * DAY) + phase) + rng.gauss(0, 0.2)
    return max(0.0, 600.0 * daily + rng.gauss(0, 5.0))  # light, lux


class _Seconds:
    """'YYYY-MM-DD HH:MM:SS' of each whole second, formatted once and shared by all topics."""

    def __init__(self, first: int, last: int) -> None:
        self.first = first
        start = datetime.fromtimestamp(first, tz=UTC)
        self.text = [
            (start + timedelta(seconds=k)).strftime("%Y-%m-%d %H:%M:%S")
            for k in range(last - first + 1)
        ]

    def __getitem__(self, second: int) -> str:
        return self.text[second - self.first]


def topic_first_second(spec: dict) -> int:
    """Reading i of a topic is at first + i seconds plus under 250 ms of jitter."""
    return spec["first"]


def topic_copy_text(spec: dict, seconds: _Seconds) -> str:
    """COPY text (topic, ts, value, text) of one topic, oldest first."""
    rng = random.Random(spec["seed"])
    phase = rng.uniform(0, 2 * math.pi)
    first, name, metric = topic_first_second(spec), spec["name"], spec["metric"]
    lines = []
    for i in range(spec["rows"]):
        second = first + i
        micros = rng.randrange(250_000)
        value = _value(metric, second, phase, rng)
        lines.append(f"{name}\t{seconds[second]}.{micros:06d}+00\t{value:.2f}\t\\N\n")
    return "".join(lines)


class _Chunks:
    """A file-like ``read()`` over a generator of strings, for ``copy_expert``."""

    def __init__(self, chunks) -> None:
        self.chunks = iter(chunks)
        self.buffer = ""

    def read(self, size: int = -1) -> str:
        while size < 0 or len(self.buffer) < size:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.buffer += chunk
        if size < 0:
            size = len(self.buffer)
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out

    readline = read


def copy_topics(dsn: str, specs: list[dict]) -> int:
    """COPY the readings of ``specs`` in one transaction; runs in a worker process."""
    import psycopg2

    if not specs:
        return 0
    firsts = [topic_first_second(s) for s in specs]
    seconds = _Seconds(min(firsts), max(f + s["rows"] for f, s in zip(firsts, specs, strict=True)))
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.copy_expert(
            "COPY telemetry_reading (topic, ts, value, text) FROM STDIN",
            _Chunks(topic_copy_text(spec, seconds) for spec in specs),
            size=1 << 20,
        )
    conn.close()
    return sum(s["rows"] for s in specs)


# --- databases ------------------------------------------------------------------------
def pg_dsn(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}"


@contextlib.contextmanager
def pg_admin(base: str):
    """A cursor on the ``postgres`` database in autocommit (CREATE/DROP DATABASE need it)."""
    import psycopg2

    conn = psycopg2.connect(pg_dsn(base, "postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            yield cursor
    finally:
        conn.close()


def data_signature(specs: list[dict]) -> str:
    rows = sum(s["rows"] for s in specs)
    days = sum(1 for s in specs if s["kind"] == "day")
    return f"telemetry_bench v1 rows={rows} topics={len(specs) - days} day_topics={days}"


def database_signature(base: str, name: str) -> str | None:
    with pg_admin(base) as cursor:
        cursor.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [name],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def create_database(base: str, name: str, env: dict) -> None:
    with pg_admin(base) as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    migrate_env = {**env, "DATABASE_URL": pg_dsn(base, name), "IOTSERVER_ROLE": "all"}
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=REPO,
        env=migrate_env,
        check=True,
    )


def load_database(
    base: str, name: str, specs: list[dict], *, env: dict, jobs: int, state: Path, end: int
) -> dict:
    """Fresh database ``name`` holding ``specs``; returns what the load took."""
    started = time.perf_counter()
    create_database(base, name, env)
    migrated = time.perf_counter()
    dsn = pg_dsn(base, name)
    # Contiguous slices, so each COPY appends in key order (no random B-tree inserts).
    size = math.ceil(len(specs) / max(1, jobs))
    slices = [specs[i : i + size] for i in range(0, len(specs), size)]
    with ProcessPoolExecutor(max_workers=len(slices)) as pool:
        loaded = sum(pool.map(copy_topics, [dsn] * len(slices), slices))
    copied = time.perf_counter()
    config_path = state / f"fill-{name}.json"
    config_path.write_text(json.dumps({"specs": specs}))
    filled = run_child("fill", config_path, {**env, "DATABASE_URL": dsn, "IOTSERVER_ROLE": "all"})
    vacuum(dsn)
    with pg_admin(base) as cursor:
        cursor.execute(
            f"COMMENT ON DATABASE \"{name}\" IS '{data_signature(specs)} end={end}'"  # noqa: S608
        )
    finished = time.perf_counter()
    return {
        "database": name,
        "rows": loaded,
        "migrate_s": round(migrated - started, 1),
        "copy_s": round(copied - migrated, 1),
        "copy_rows_per_s": round(loaded / (copied - migrated)),
        "summaries_vacuum_s": round(finished - copied, 1),
        **filled,
    }


def child_fill(config: dict) -> dict:
    """Topic summaries from each topic's newest reading and one device per device name.

    Through the ORM (not raw SQL) so columns added to these models get their defaults.
    """
    from django.db import connections

    from telemetry import services
    from telemetry.models import Device, Topic

    names = [s["name"] for s in config["specs"]]
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT t.name, r.ts, r.value, r.text "
            "FROM unnest(%s::text[]) AS t(name) CROSS JOIN LATERAL ("
            "  SELECT ts, value, text FROM telemetry_reading "
            "  WHERE topic = t.name ORDER BY ts DESC LIMIT 1) AS r",
            [names],
        )
        newest = cursor.fetchall()
    Topic.objects.bulk_create(
        Topic(name=name, device=name.split(".", 1)[0], last_ts=ts, last_value=value, last_text=text)
        for name, ts, value, text in newest
    )
    devices = sorted({s["device"] for s in config["specs"]})
    # "!" is no valid hash: the bench devices cannot log in to the broker.
    Device.objects.bulk_create(
        Device(name=name, owner_id=BENCH_OWNER_ID, mqtt_password_hash="!") for name in devices
    )
    # The rollup job keeps up with ingestion in a running system; here it catches up once.
    started = time.perf_counter()
    report = services.rollup_refresh()
    return {
        "topics": len(newest),
        "devices": len(devices),
        "rollup_windows": report.windows,
        "rollup_s": round(time.perf_counter() - started, 1),
    }


def vacuum(dsn: str) -> None:
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
    finally:
        conn.close()


def relation_sizes(dsn: str) -> dict:
    import psycopg2

    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT pg_relation_size('telemetry_reading'), "
            "pg_relation_size('telemetry_reading_pkey'), "
            "(SELECT reltuples::bigint FROM pg_class WHERE relname = 'telemetry_reading')"
        )
        heap, index, rows = cursor.fetchone()
    conn.close()
    return {"heap_mb": round(heap / 2**20), "key_index_mb": round(index / 2**20), "rows": rows}


# --- environment of the children (measurement, token, gunicorn) ------------------------
def base_env(*, state: Path, redis_url: str) -> dict:
    from iotserver import keys

    private, public = keys.dev_key_pair(state / "keys")
    env = {k: v for k, v in os.environ.items() if not SCRUBBED_ENV.match(k)}
    env.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "JWT_PRIVATE_KEY_FILE": str(private),
            "JWT_PUBLIC_KEY_FILE": str(public),
            "JWT_ACCESS_MINUTES": "240",
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
            "REDIS_URL": redis_url,
            "TELEMETRY_BACKEND": "sql",
            "PYTHONPATH": str(REPO),
        }
    )
    return env


def clear_bench_cache(redis_url: str) -> int:
    """Delete the iotserver keys in the bench's Redis database (nothing else)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    removed = 0
    for key in client.scan_iter(match="iotserver:*", count=1000):
        removed += client.delete(key)
    client.close()
    return removed


def run_child(mode: str, config_path: Path, env: dict) -> dict:
    """``python -m benchmarks.telemetry_bench _child MODE CONFIG``; returns its JSON answer."""
    out = subprocess.run(
        [PYTHON, "-m", "benchmarks.telemetry_bench", "_child", mode, str(config_path)],
        cwd=REPO,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- statistics -----------------------------------------------------------------------
def summarize(samples_ns: list[int]) -> dict:
    ordered = sorted(samples_ns)
    n = len(ordered)

    def rank(q: float) -> float:
        return ordered[min(n - 1, max(0, math.ceil(q * n) - 1))] / 1e6

    return {
        "n": n,
        "median_ms": round(statistics.median(ordered) / 1e6, 3),
        "p99_ms": round(rank(0.99), 3),
        "mean_ms": round(statistics.fmean(ordered) / 1e6, 3),
    }


# --- server-side measurement (runs in a Django child process) --------------------------
class _QueryLog:
    """Counts the SQL statements a connection runs and keeps the last one (for EXPLAIN)."""

    def __init__(self) -> None:
        self.count = 0
        self.last: tuple[str, object] | None = None

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        self.last = (sql, params)
        return execute(sql, params, many, context)


class _Op:
    """Samples and SQL statement counts of one measured operation."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self.queries = 0

    def call(self, log: _QueryLog, fn):
        before = log.count
        started = time.perf_counter_ns()
        result = fn()
        self.samples.append(time.perf_counter_ns() - started)
        self.queries += log.count - before
        return result

    def report(self, **extra) -> dict:
        out = summarize(self.samples)
        out["sql_per_call"] = round(self.queries / len(self.samples), 2)
        out.update(extra)
        return out


def _ts(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _explain(connection, log: _QueryLog, fn) -> str:
    fn()
    sql, params = log.last
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _child_latest(config: dict, conns: dict, logs: dict) -> dict:
    """Latest on every database, rounds interleaved so machine load hits both alike."""
    from django.db import connections

    from telemetry import selectors
    from telemetry.storage import get_storage

    storage, rng = get_storage(), random.Random(7)
    topics = [s["name"] for s in config["specs"] if s["kind"] == "regular"]
    ops = {(label, kind): _Op() for label in conns for kind in ("index", "selector")}
    for conn in conns.values():  # warm-up: every topic once, then random ones
        connections["telemetry"] = conn
        for topic in topics + rng.choices(topics, k=config["warmup"]):
            assert storage.latest(topic=topic) is not None, topic
    labels = list(conns)
    for round_no in range(config["rounds"]):
        for label in labels if round_no % 2 == 0 else labels[::-1]:
            connections["telemetry"] = conns[label]
            for _ in range(config["latest_reps"] // config["rounds"]):
                topic = rng.choice(topics)
                ops[label, "index"].call(logs[label], lambda t=topic: storage.latest(topic=t))
                topic = rng.choice(topics)
                ops[label, "selector"].call(
                    logs[label], lambda t=topic: selectors.reading_latest(topic=t)
                )
    return {
        f"{kind}:{label}": ops[label, kind].report(
            served_from="index (TELEMETRY_CACHE_SECONDS=0)",
            what="storage.latest()" if kind == "index" else "selectors.reading_latest()",
        )
        for label in labels
        for kind in ("index", "selector")
    }


def _window(spec: dict, rng: random.Random, seconds: int) -> tuple[datetime, datetime]:
    """A random [start, start + seconds) inside the topic's series, between two readings."""
    first = topic_first_second(spec)
    start = rng.randrange(first, first + spec["rows"] - seconds) + 0.5
    return _ts(start), _ts(start + seconds)


def _child_range_agg(config: dict, conn, log: _QueryLog) -> dict:
    from django.conf import settings

    from telemetry import selectors

    rng = random.Random(11)
    regular = [s for s in config["specs"] if s["kind"] == "regular"]
    day = [s for s in config["specs"] if s["kind"] == "day"]
    cap = settings.TELEMETRY_RANGE_MAX_ROWS + 1  # what /iot/<topic>/<start>/<end> asks for
    agg_cap = settings.TELEMETRY_AGG_MAX_ROWS + 1
    aggs = ["avg", "min", "max", "count"]

    def range_1h(spec):
        start, end = _window(spec, rng, 3600)
        return selectors.reading_range(
            topic=spec["name"], start=start, end=end, descending=True, limit=cap
        )

    def day_bounds(spec):
        if spec["kind"] == "day":
            first = topic_first_second(spec)
            return _ts(first), _ts(first + DAY)
        last = topic_first_second(spec) + spec["rows"]  # just after the newest reading
        return _ts(last - DAY), _ts(last)

    def agg_raw(spec):
        start, end = day_bounds(spec)
        return selectors.reading_aggregate(
            topic=spec["name"], start=start, end=end, bucket_seconds=60, aggregates=aggs
        )

    def agg_count(spec):
        start, end = day_bounds(spec)
        return selectors.reading_count(topic=spec["name"], start=start, end=end, cap=agg_cap)

    def agg_api(spec):
        """What ``/readings?bucket=1m&agg=...`` does: plan, row-cap counts, aggregate."""
        start, end = day_bounds(spec)
        plan = selectors.reading_aggregate_plan(
            topic=spec["name"], start=start, end=end, bucket_seconds=60
        )
        ranges = [(start, end)] if plan is None else plan.raw_ranges
        scanned = 0
        for lo, hi in ranges:
            scanned += selectors.reading_count(topic=spec["name"], start=lo, end=hi, cap=agg_cap)
        assert scanned < agg_cap
        buckets = selectors.reading_aggregate(
            topic=spec["name"], start=start, end=end, bucket_seconds=60, aggregates=aggs, plan=plan
        )
        used = "rollups + raw edges" if plan is not None and plan.rollup else "raw readings"
        return buckets, used

    plans = {
        "range_1h": (range_1h, regular, config["range_reps"], True),
        "agg_1d_1m_raw": (agg_raw, regular, config["agg_reps"], True),
        "agg_row_cap_count": (agg_count, regular, config["agg_reps"], False),
        "agg_1d_1m_api": (agg_api, regular, config["agg_reps"], False),
    }
    if day:
        plans["agg_full_day_raw"] = (agg_raw, day, config["agg_reps"], True)
        plans["agg_full_day_api"] = (agg_api, day, config["agg_reps"], False)
    results, explains = {}, {}
    for name, (fn, specs, reps, explain) in plans.items():
        for spec in rng.choices(specs, k=max(5, reps // 10)):
            fn(spec)  # warm-up
        op, shapes = _Op(), set()
        for spec in rng.choices(specs, k=reps):
            out = op.call(log, lambda s=spec, f=fn: f(s))
            shapes.add(_shape(out))
        results[name] = op.report(result=sorted(shapes))
        if explain:
            explains[name] = _explain(conn, log, lambda s=specs[0], f=fn: f(s))
    return {"ops": results, "explain": explains}


def _shape(out) -> str:
    """What one call returned, so the report shows every call did the intended work."""
    if isinstance(out, int):
        return f"{out} rows counted"
    if isinstance(out, tuple):
        return f"{_shape(out[0])}, from {out[1]}"
    if out and hasattr(out[0], "values"):
        return f"{len(out)} buckets over {sum(b.values['count'] for b in out)} rows"
    return f"{len(out)} rows"


def child_index(config: dict) -> dict:
    """Index path (TELEMETRY_CACHE_SECONDS=0): latest on both databases, range and aggregates."""
    from django.db import connections

    from telemetry.storage import get_storage

    conns = {"big": connections["default"], "small": connections["telemetry"]}
    logs = {}
    for label, conn in conns.items():
        logs[label] = _QueryLog()
        conn.execute_wrappers.append(logs[label])
    latest = _child_latest(config, conns, logs)
    explains = {}
    for label, conn in conns.items():
        connections["telemetry"] = conn
        first = config["specs"][0]["name"]
        explains[f"latest:{label}"] = _explain(
            conn, logs[label], lambda t=first: get_storage().latest(topic=t)
        )
    connections["telemetry"] = conns["big"]
    ranged = _child_range_agg(config, conns["big"], logs["big"])
    return {"ops": {**latest, **ranged["ops"]}, "explain": {**explains, **ranged["explain"]}}


def child_cached(config: dict) -> dict:
    """Cached path (Redis, TELEMETRY_CACHE_SECONDS>0) on the big database, and a token."""
    from django.core.cache import cache
    from django.db import connections
    from rest_framework_simplejwt.tokens import AccessToken

    from telemetry import cache_keys, selectors

    log = _QueryLog()
    connections["default"].execute_wrappers.append(log)
    topics = [s["name"] for s in config["specs"] if s["kind"] == "regular"]
    for topic in topics:  # what the write path does: every topic's latest is in the cache
        selectors.reading_latest(topic=topic)
        selectors.device_owner_id(name=topic.split(".", 1)[0])
    cached = sum(cache.get(cache_keys.latest(t)) is not None for t in topics)
    rng = random.Random(13)
    latest, readable = _Op(), _Op()
    for _ in range(config["latest_reps"]):
        topic = rng.choice(topics)
        latest.call(log, lambda t=topic: selectors.reading_latest(topic=t))
        topic = rng.choice(topics)
        readable.call(
            log,
            lambda t=topic: selectors.topic_latest_for_user(
                topic=t, user_id=BENCH_OWNER_ID, is_staff=False
            ),
        )
    served = "cache" if latest.queries == 0 else f"index ({latest.queries} SQL statements)"
    token = AccessToken()
    token["user_id"] = BENCH_OWNER_ID
    token["is_staff"] = False
    return {
        "ops": {
            "cached:big": latest.report(
                served_from=served,
                what="selectors.reading_latest()",
                topics_in_cache=f"{cached}/{len(topics)}",
            ),
            "latest_for_user:big": readable.report(
                served_from="cache" if readable.queries == 0 else "database",
                what="selectors.topic_latest_for_user() (owner + latest, the /latest path)",
            ),
        },
        "cache_backend": cache.__class__.__name__,
        "token": str(token),
    }


def child_main(mode: str, config_path: str) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iotserver.settings")
    django.setup()
    config = json.loads(Path(config_path).read_text())
    modes = {"fill": child_fill, "index": child_index, "cached": child_cached}
    result = modes[mode](config)
    sys.stdout.write(json.dumps(result) + "\n")


# --- HTTP -----------------------------------------------------------------------------
WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,'
    .. '"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,'
    .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""


def write_wrk_scripts(state: Path, topics: list[str]) -> dict[str, Path]:
    """Lua for wrk: /latest rotating over every topic, and the constant endpoint."""
    listed = ",\n".join(f'  "{t}"' for t in topics)
    latest = (
        f"local topics = {{\n{listed}\n}}\nlocal n = 0\n"
        "request = function()\n  n = n + 1\n"
        '  return wrk.format("GET", "/iot/" .. topics[(n % #topics) + 1] .. "/latest")\nend\n'
    )
    bare = 'request = function()\n  return wrk.format("GET", "/bench/constant")\nend\n'
    paths = {"latest": state / "latest.lua", "bare": state / "bare.lua"}
    paths["latest"].write_text(latest + WRK_DONE)
    paths["bare"].write_text(bare + WRK_DONE)
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn (deploy/gunicorn.conf.py) serving benchmarks.settings in its own process group."""

    def __init__(self, *, env: dict, workers: int, threads: int, state: Path) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = state / f"gunicorn-{workers}x{threads}.log"
        genv = {
            **env,
            "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
            "IOTSERVER_ROLE": "telemetry",  # the telemetry service: verifies, never mints
            "GUNICORN_BIND": f"{HOST}:{self.port}",
            "GUNICORN_WORKERS": str(workers),
            "GUNICORN_THREADS": str(threads),
            "GUNICORN_LOG_LEVEL": "warning",
        }
        genv.pop("JWT_PRIVATE_KEY_FILE", None)
        self.argv = [str(BIN / "gunicorn"), "--config", "deploy/gunicorn.conf.py"]
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                self.argv, cwd=REPO, env=genv, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as resp:  # noqa: S310
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer /healthz in 60 s; see {self.log_path}")

    def get(self, path: str, token: str | None) -> tuple[int, bytes]:
        request = urllib.request.Request(f"{self.url}{path}")  # noqa: S310
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def wrk_command(*, url: str, script: Path, connections: int, duration: int) -> list[str]:
    # One wrk thread drives the 32 connections (it needs a fraction of a CPU at these rates);
    # a second one only takes CPU from the server on a 2-CPU machine.
    return [
        "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
        "-s", str(script), "-H", "Authorization: Bearer $TOKEN", url,
    ]  # fmt: skip


def connections_per_worker(port: int) -> list[int]:
    """Established client connections held by each gunicorn worker, fewest first."""
    try:
        out = subprocess.run(
            ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return []
    return sorted(collections.Counter(re.findall(r"pid=(\d+)", out)).values())


def run_wrk(command: list[str], token: str, *, port: int | None = None) -> dict:
    """One wrk run; with ``port``, also how its connections were spread over the workers."""
    argv = [a.replace("$TOKEN", token) for a in command]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as wrk:
        spread = []
        if port is not None:
            time.sleep(2)
            spread = connections_per_worker(port)
        stdout, stderr = wrk.communicate()
    if wrk.returncode != 0:
        raise RuntimeError(f"wrk exited {wrk.returncode}: {stderr[-2000:]}")
    line = next(x for x in stdout.splitlines() if x.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    data["connections_per_worker"] = spread
    data["rps"] = round(data["requests"] / (data["duration_us"] / 1e6), 1)
    data["p99_ms"] = round(data["p99_us"] / 1000, 2)
    data["p50_ms"] = round(data["p50_us"] / 1000, 2)
    data["errors"] = sum(v for k, v in data.items() if k.startswith("errors_"))
    return data


def check_endpoints(server: Server, token: str, topic: str) -> dict:
    """Both endpoints answer 200 with the token and 401 without it, before any load."""
    checks = {}
    for name, path in (("latest", f"/iot/{topic}/latest"), ("bare", "/bench/constant")):
        status, body = server.get(path, token)
        anonymous, _ = server.get(path, None)
        if status != 200 or anonymous != 401:
            raise RuntimeError(
                f"{path}: {status} with token, {anonymous} without; expected 200/401"
            )
        checks[name] = {"path": path, "with_token": status, "without_token": anonymous}
        checks[name]["body"] = json.loads(body)
    return checks


def sweep_point(args, env: dict, state: Path, token: str, scripts: dict, threads: int) -> dict:
    """Short runs of both endpoints with ``threads`` threads per worker."""
    server = Server(env=env, workers=args.workers, threads=threads, state=state)
    out = {}
    try:
        for name in ("bare", "latest"):
            command = wrk_command(url=server.url, script=scripts[name],
                                  connections=args.connections, duration=3)  # fmt: skip
            run_wrk(command, token)  # warm-up
            command[command.index("-d3s")] = f"-d{args.sweep_seconds}s"
            result = run_wrk(command, token)
            out[name] = {"rps": result["rps"], "p99_ms": result["p99_ms"]}
    finally:
        server.stop()
    return out


def http_phase(args, env: dict, state: Path, token: str, topics: list[str]) -> dict:
    scripts = write_wrk_scripts(state, topics)
    sweep = {}
    threads = args.threads
    if threads is None:
        # The configuration a deployment of this endpoint would pick: the lowest /latest p99
        # in short runs. The measured runs below are new ones, the bare endpoint's included.
        for candidate in args.thread_sweep:
            sweep[candidate] = sweep_point(args, env, state, token, scripts, candidate)
            logger.info("threads=%s: %s", candidate, sweep[candidate])
        threads = min(sweep, key=lambda t: sweep[t]["latest"]["p99_ms"])
    server = Server(env=env, workers=args.workers, threads=threads, state=state)
    try:
        checks = check_endpoints(server, token, topics[0])
        commands = {
            name: wrk_command(
                url=server.url,
                script=scripts[name],
                connections=args.connections,
                duration=args.duration,
            )  # fmt: skip
            for name in ("latest", "bare")
        }
        for name in ("latest", "bare"):  # warm-up: every topic's latest and owner cached
            warm = [a.replace(f"-d{args.duration}s", "-d5s") for a in commands[name]]
            run_wrk(warm, token)
        runs = {"latest": [], "bare": []}
        for run_no in range(args.runs):
            for name in ("latest", "bare") if run_no % 2 == 0 else ("bare", "latest"):
                runs[name].append(run_wrk(commands[name], token, port=server.port))
                logger.info("%s run %d: %.0f req/s, p99 %.1f ms", name, run_no + 1,
                            runs[name][-1]["rps"], runs[name][-1]["p99_ms"])  # fmt: skip
    finally:
        server.stop()
    return {
        "server": {
            "command": " ".join(server.argv),
            "settings": "benchmarks.settings (IOTSERVER_ROLE=telemetry, DEBUG=0)",
            "workers": args.workers,
            "threads": threads,
            "worker_class": "gthread",
            "thread_sweep": sweep,
        },
        "checks": checks,
        "wrk_commands": {k: shlex.join(v) for k, v in commands.items()},
        "runs": runs,
        "summary": http_summary(runs),
    }


def http_summary(runs: dict) -> dict:
    out = {}
    for name, items in runs.items():
        out[name] = {
            "rps_runs": [r["rps"] for r in items],
            "rps_median": statistics.median(r["rps"] for r in items),
            "p99_ms_runs": [r["p99_ms"] for r in items],
            "p99_ms_median": statistics.median(r["p99_ms"] for r in items),
            "p50_ms_median": statistics.median(r["p50_ms"] for r in items),
            "errors": sum(r["errors"] for r in items),
            "connections_per_worker_runs": [r["connections_per_worker"] for r in items],
        }
    out["ratio"] = round(out["latest"]["rps_median"] / out["bare"]["rps_median"], 3)
    return out


# --- report ---------------------------------------------------------------------------
TARGETS = {"http_ratio_min": 0.6, "http_p99_ms_max": 50.0, "latest_10m_vs_10k_max": 1.5}


def verdicts(server: dict, http: dict | None) -> dict:
    ops = server["ops"]
    ratio_index = ops["index:big"]["median_ms"] / ops["index:small"]["median_ms"]
    ratio_selector = ops["selector:big"]["median_ms"] / ops["selector:small"]["median_ms"]
    out = {
        "latest_10m_vs_10k_index": round(ratio_index, 3),
        "latest_10m_vs_10k_selector": round(ratio_selector, 3),
        "latest_10m_vs_10k_ok": ratio_index <= TARGETS["latest_10m_vs_10k_max"],
    }
    if http:
        s = http["summary"]
        out["http_ratio"] = s["ratio"]
        out["http_ratio_ok"] = s["ratio"] >= TARGETS["http_ratio_min"]
        out["http_latest_p99_ms"] = s["latest"]["p99_ms_median"]
        out["http_p99_ok"] = s["latest"]["p99_ms_median"] < TARGETS["http_p99_ms_max"]
    return out


SERVER_ROWS = [
    ("latest, index (10M rows)", "index:big"),
    ("latest, index (10K rows)", "index:small"),
    ("latest, selector, cache off (10M)", "selector:big"),
    ("latest, selector, cache off (10K)", "selector:small"),
    ("latest, selector, cached (10M)", "cached:big"),
    ("owner check + latest, cached (the /latest path)", "latest_for_user:big"),
    ("range 1 h (3,600 rows)", "range_1h"),
    ("aggregate 1 d / 1 min, raw readings", "agg_1d_1m_raw"),
    ("row-cap count of that day", "agg_row_cap_count"),
    ("aggregate 1 d / 1 min, as the API (rollups)", "agg_1d_1m_api"),
    ("aggregate full 1 Hz day / 1 min, raw", "agg_full_day_raw"),
    ("aggregate full 1 Hz day / 1 min, as the API", "agg_full_day_api"),
]


def markdown(report: dict) -> str:
    server, http, v = report["server_side"], report.get("http"), report["verdicts"]
    lines = [
        f"Telemetry benchmark, {report['meta']['started']} ({report['meta']['host']})",
        "",
        "| server-side operation | median ms | p99 ms | SQL/call | served from / result |",
        "|---|---:|---:|---:|---|",
    ]
    for label, key in SERVER_ROWS:
        op = server["ops"].get(key)
        if op:
            note = op.get("served_from") or ", ".join(op.get("result", []))
            lines.append(
                f"| {label} | {op['median_ms']:.3f} | {op['p99_ms']:.3f} | "
                f"{op['sql_per_call']:g} | {note} |"
            )
    ok = "met" if v["latest_10m_vs_10k_ok"] else "NOT met"
    lines += [
        "",
        f"Latest at 10M vs 10K rows (index path, medians): **{v['latest_10m_vs_10k_index']}x** "
        f"(target <= {TARGETS['latest_10m_vs_10k_max']}x: {ok}); through the selector "
        f"with the cache off: {v['latest_10m_vs_10k_selector']}x.",
    ]
    if http:
        s = http["summary"]
        lines += [
            "",
            f"HTTP, gunicorn {http['server']['workers']} workers x "
            f"{http['server']['threads']} threads (gthread), wrk 1 thread, "
            f"{report['config']['connections']} connections, {report['config']['duration']} s "
            f"x {report['config']['runs']} runs, Redis cache:",
            "",
            "| endpoint | req/s (runs) | req/s median | p50 ms | p99 ms (runs) | p99 median "
            "| errors | connections per worker (runs) |",
            "|---|---|---:|---:|---|---:|---:|---|",
        ]
        for name, path in (("latest", "/iot/<topic>/latest"), ("bare", "/bench/constant")):
            e = s[name]
            spread = " ".join(
                "/".join(map(str, c)) or "-" for c in e.get("connections_per_worker_runs", [])
            )
            lines.append(
                f"| `{path}` | {', '.join(f'{x:.0f}' for x in e['rps_runs'])} | "
                f"{e['rps_median']:.0f} | {e['p50_ms_median']:.1f} | "
                f"{', '.join(f'{x:.1f}' for x in e['p99_ms_runs'])} | {e['p99_ms_median']:.1f} | "
                f"{e['errors']} | {spread} |"
            )
        lines += [
            "",
            f"Ratio latest/bare: **{s['ratio']}** (target >= {TARGETS['http_ratio_min']}: "
            f"{'met' if v['http_ratio_ok'] else 'NOT met'}); latest p99 "
            f"**{s['latest']['p99_ms_median']} ms** (target < {TARGETS['http_p99_ms_max']:g} ms: "
            f"{'met' if v['http_p99_ok'] else 'NOT met'}).",
        ]
    sweep = (http or {}).get("server", {}).get("thread_sweep")
    if sweep:
        lines += [
            "",
            f"Thread sweep ({report['config']['sweep_seconds']} s runs; the lowest /latest p99 "
            "picks the configuration):",
            "",
            "| threads/worker | bare req/s | bare p99 ms | latest req/s | latest p99 ms |",
            "|---:|---:|---:|---:|---:|",
        ]
        for threads, point in sweep.items():
            b, la = point["bare"], point["latest"]
            lines.append(
                f"| {threads} | {b['rps']:.0f} | {b['p99_ms']:.1f} | {la['rps']:.0f} "
                f"| {la['p99_ms']:.1f} |"
            )
    load = report["meta"]["loadavg"]
    lines += ["", f"Load average (1 min) before/after: {load['before'][0]} / {load['after'][0]}."]
    return "\n".join(lines) + "\n"


# --- main -----------------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.telemetry_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--rows", type=int, default=10_000_000, help="readings in the big database")
    p.add_argument("--topics", type=int, default=1000)
    p.add_argument("--small-rows", type=int, default=10_000, help="readings in the small one")
    p.add_argument("--day-topics", type=int, default=4,
                   help="extra topics of one full day at 1 Hz (86,400 readings)")  # fmt: skip
    p.add_argument(
        "--pg", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
    )
    p.add_argument("--db-name", default="iot_bench_telemetry")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/9",
                   help="a Redis database used by this benchmark alone")  # fmt: skip
    p.add_argument("--reuse-data", action="store_true",
                   help="keep the databases when they already hold this data set")  # fmt: skip
    p.add_argument("--load-jobs", type=int, default=2)
    p.add_argument("--latest-reps", type=int, default=4000)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--range-reps", type=int, default=300)
    p.add_argument("--agg-reps", type=int, default=300)
    p.add_argument("--skip-http", action="store_true")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--threads", type=int, default=None, help="per worker; default: sweep, lowest /latest p99"
    )
    p.add_argument("--thread-sweep", type=lambda s: [int(x) for x in s.split(",")],
                   default=[1, 2, 4, 8])  # fmt: skip
    p.add_argument("--sweep-seconds", type=int, default=6)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--duration", type=int, default=15)
    p.add_argument("--runs", type=int, default=3)
    return p.parse_args(argv)


def prepare_data(args, env: dict, state: Path) -> dict:
    end = int(time.time()) // 60 * 60
    sizes = {
        args.db_name: {"rows": args.rows, "day_topics": args.day_topics},
        f"{args.db_name}_small": {"rows": args.small_rows, "day_topics": 0},
    }
    loads, specs_of = {}, {}
    for name, size in sizes.items():
        specs = topic_specs(topics=args.topics, end=end, **size)
        signature = data_signature(specs)
        stored = (database_signature(args.pg, name) or "").rpartition(" end=")
        if args.reuse_data and stored[0] == signature:
            # The stored data ends where it ended when loaded.
            specs = topic_specs(topics=args.topics, end=int(stored[2]), **size)
            loads[name] = {"database": name, "reused": True}
            logger.info("reusing %s (%s)", name, signature)
        else:
            logger.info("loading %s: %s", name, signature)
            loads[name] = load_database(
                args.pg, name, specs, env=env, jobs=args.load_jobs, state=state, end=end
            )
            logger.info("loaded %s: %s", name, loads[name])
        loads[name]["sizes"] = relation_sizes(pg_dsn(args.pg, name))
        specs_of[name] = specs
    return {"specs": specs_of[args.db_name], "loads": loads}


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    started = datetime.now(UTC)
    state = Path(tempfile.mkdtemp(prefix="telemetry-bench-"))
    env = base_env(state=state, redis_url=args.redis_url)
    loadavg_before = [round(x, 2) for x in os.getloadavg()]
    data = prepare_data(args, env, state)
    config = {k: getattr(args, k) for k in ("latest_reps", "rounds", "warmup", "range_reps")}
    config.update(agg_reps=args.agg_reps, specs=data["specs"])
    config_path = state / "config.json"
    config_path.write_text(json.dumps(config))
    big_url, small_url = pg_dsn(args.pg, args.db_name), pg_dsn(args.pg, f"{args.db_name}_small")
    clear_bench_cache(args.redis_url)
    logger.info("server-side: index path (TELEMETRY_CACHE_SECONDS=0)")
    index_env = {**env, "DATABASE_URL": big_url, "TELEMETRY_DATABASE_URL": small_url,
                 "TELEMETRY_CACHE_SECONDS": "0", "IOTSERVER_ROLE": "all"}  # fmt: skip
    server = run_child("index", config_path, index_env)
    logger.info("server-side: cached path (Redis %s)", args.redis_url)
    cached_env = {**env, "DATABASE_URL": big_url, "TELEMETRY_CACHE_SECONDS": "3600",
                  "IOTSERVER_ROLE": "all"}  # fmt: skip
    cached = run_child("cached", config_path, cached_env)
    token = cached.pop("token")
    server["ops"].update(cached.pop("ops"))
    server["cache_backend"] = cached["cache_backend"]
    http = None
    if not args.skip_http:
        topics = [s["name"] for s in data["specs"] if s["kind"] == "regular"]
        http = http_phase(args, {**env, "DATABASE_URL": big_url}, state, token, topics)
    report = {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "command": shlex.join(
                [".venv/bin/python", "-m", "benchmarks.telemetry_bench", *argv]
            ),  # fmt: skip
            "host": f"{os.cpu_count()} CPUs, {platform_text()}",
            "loadavg": {"before": loadavg_before, "after": [round(x, 2) for x in os.getloadavg()]},
            "postgres": postgres_facts(args.pg),
            "redis_url": args.redis_url,
            "git": git_facts(),
        },
        "config": {k: v for k, v in vars(args).items() if k != "pg"},
        "data": data["loads"],
        "server_side": server,
        "http": http,
        "targets": TARGETS,
    }
    report["verdicts"] = verdicts(server, http)
    write_report(report, started)
    return 0


def git_facts() -> dict:
    def git(*argv: str) -> str:
        return subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True).stdout

    changed = git("status", "--porcelain", "--", "telemetry", "iotserver", "benchmarks")
    return {"commit": git("rev-parse", "HEAD").strip(), "uncommitted": changed.splitlines()}


def platform_text() -> str:
    import platform

    return f"{platform.system()} {platform.release()}, Python {platform.python_version()}"


def postgres_facts(base: str) -> dict:
    with pg_admin(base) as cursor:
        cursor.execute("SELECT version()")
        facts = {"version": cursor.fetchone()[0].split(" on ")[0]}
        for name in ("shared_buffers", "work_mem", "effective_cache_size", "jit"):
            cursor.execute(f"SHOW {name}")
            facts[name] = cursor.fetchone()[0]
    return facts


def write_report(report: dict, started: datetime) -> None:
    REPORTS.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    text = markdown(report)
    (REPORTS / f"telemetry-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    (REPORTS / f"telemetry-{stamp}.md").write_text(text)
    sys.stdout.write("\n" + text)
    sys.stdout.write(f"\nReport: benchmarks/reports/telemetry-{stamp}.json\n")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "_child":
        child_main(sys.argv[2], sys.argv[3])
    else:
        sys.exit(main(sys.argv[1:]))
