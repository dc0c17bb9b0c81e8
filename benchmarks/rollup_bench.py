"""Rollup benchmark: a 30-day 1-hour aggregate through the API, raw readings vs rollups.

    python -m benchmarks.rollup_bench [--days 30 --topics 10] [--runs 9] [--reuse-data]

1. Setup (not measured): a dedicated PostgreSQL database (``--database``, default
   ``iot_bench_rollups``) migrated with ``manage.py migrate``, ``--days`` of 1 Hz readings for
   ``--topics`` topics (30 x 10 = 25.9 million rows) loaded with COPY (key dropped during the
   load and rebuilt after it, as in migration 0001, covering ``value``), ``VACUUM ANALYZE``.
2. Rollups built from scratch by ``telemetry.services.rollup_refresh`` (timed: windows,
   seconds, rows per second).
3. ``GET /iot/<topic>/readings?start=&end=&bucket=1h&agg=avg,min,max,count`` over the whole
   30 days, in-process (Django test client, no network: the time is the server's), with
   ``TELEMETRY_AGG_USE_ROLLUPS`` off (raw) and on (rollups), runs interleaved, the topic
   rotating; medians and SQL time per request. Both answers are compared bucket by bucket.

Prints a table and writes ``benchmarks/reports/rollups-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REPORTS = REPO / "benchmarks" / "reports"
PG = "postgres://postgres@127.0.0.1:5432"
DAY = 86_400


def _setup_django(database: str) -> None:
    os.environ["DATABASE_URL"] = f"{PG}/{database}"
    os.environ.pop("TELEMETRY_DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)  # the cache plays no part in an aggregate
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "iotserver.settings"
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def _admin():
    import psycopg2

    conn = psycopg2.connect(f"{PG}/postgres")
    conn.autocommit = True
    return conn


def _database_create(name: str) -> None:
    conn = _admin()
    with conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()


class _Chunks:
    """A file-like ``read()`` over a generator of strings, for ``copy_expert``."""

    def __init__(self, chunks) -> None:
        self.chunks, self.buffer = iter(chunks), ""

    def read(self, size: int = -1) -> str:
        while size < 0 or len(self.buffer) < size:
            try:
                self.buffer += next(self.chunks)
            except StopIteration:
                break
        if size < 0:
            size = len(self.buffer)
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out


def _topic_hours(topic: str, index: int, start_epoch: int, days: int):
    """COPY text of one topic, an hour at a time: a daily wave plus a little jitter."""
    phase = index * 0.7
    for hour in range(days * 24):
        base = start_epoch + hour * 3600
        prefix = datetime.fromtimestamp(base, UTC).strftime("%Y-%m-%d %H:")
        lines = []
        for second in range(3600):
            t = base + second
            value = 20 + 5 * math.sin(2 * math.pi * t / DAY + phase) + ((t * 7919) % 101) / 100
            lines.append(f"{topic}\t{prefix}{second // 60:02d}:{second % 60:02d}+00\t{value:.2f}\n")
        yield "".join(lines)


def _copy_topics(job: tuple[str, list[tuple[str, int]], int, int]) -> int:
    import psycopg2

    dsn, topics, start_epoch, days = job
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        for topic, index in topics:
            cursor.copy_expert(
                "COPY telemetry_reading (topic, ts, value) FROM STDIN",
                _Chunks(_topic_hours(topic, index, start_epoch, days)),
            )
    return len(topics) * days * DAY


def load(database: str, topics: list[str], start_epoch: int, days: int) -> dict:
    from django.core.management import call_command
    from django.db import connection

    began = time.perf_counter()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE telemetry_reading DROP CONSTRAINT telemetry_reading_pkey")
    connection.close()
    dsn = f"{PG}/{database}"
    jobs = [(dsn, [(t, i)], start_epoch, days) for i, t in enumerate(topics)]
    workers = max(1, min(len(topics), os.cpu_count() or 1))
    with ProcessPoolExecutor(workers) as pool:
        rows = sum(pool.map(_copy_topics, jobs))
    copied = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute(
            "ALTER TABLE telemetry_reading ADD CONSTRAINT telemetry_reading_pkey "
            "PRIMARY KEY (topic, ts) INCLUDE (value)"
        )
        cursor.execute(
            "INSERT INTO telemetry_topic (name, device, last_ts, last_value) "
            "SELECT DISTINCT ON (topic) topic, split_part(topic, '.', 1), ts, value "
            "FROM telemetry_reading ORDER BY topic, ts DESC"
        )
    _vacuum(dsn)
    return {
        "rows": rows,
        "copy_s": round(copied - began, 1),
        "index_and_vacuum_s": round(time.perf_counter() - copied, 1),
    }


def _vacuum(dsn: str) -> None:
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    conn.close()


def build_rollups(database: str) -> dict:
    from django.db import connection
    from django.utils import timezone

    from telemetry.models import RollupHour, RollupMinute
    from telemetry.services import rollup_refresh

    began = time.perf_counter()
    report = rollup_refresh(now=timezone.now())
    seconds = time.perf_counter() - began
    connection.close()
    _vacuum(f"{PG}/{database}")
    return {
        "windows": report.windows,
        "seconds": round(seconds, 1),
        "minute_rows": RollupMinute.objects.count(),
        "hour_rows": RollupHour.objects.count(),
    }


class _SqlTimer:
    def __init__(self) -> None:
        self.ns = 0
        self.queries = 0

    def __call__(self, execute, sql, params, many, context):
        began = time.perf_counter_ns()
        try:
            return execute(sql, params, many, context)
        finally:
            self.ns += time.perf_counter_ns() - began
            self.queries += 1


def measure(topics: list[str], start: datetime, end: datetime, runs: int) -> dict:
    from django.db import connection
    from django.test import override_settings
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken()
    token["user_id"], token["is_staff"] = 1, True
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    params = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "bucket": "1h",
        "agg": "avg,min,max,count",
        "order": "asc",
    }
    samples: dict[str, list[dict]] = {"raw": [], "rollup": []}
    answers: dict[str, dict[str, list]] = {"raw": {}, "rollup": {}}

    def once(mode: str, topic: str) -> None:
        timer = _SqlTimer()
        with (
            override_settings(TELEMETRY_AGG_USE_ROLLUPS=mode == "rollup"),
            connection.execute_wrapper(timer),
        ):
            began = time.perf_counter_ns()
            response = client.get(f"/iot/{topic}/readings", params)
            elapsed = time.perf_counter_ns() - began
        assert response.status_code == 200, response.content[:300]
        answers[mode][topic] = response.json()["data"]
        samples[mode].append({"ms": elapsed / 1e6, "sql_ms": timer.ns / 1e6, "q": timer.queries})

    for mode in ("raw", "rollup"):  # warm-up: caches, connection, first plans
        once(mode, topics[0])
    samples = {"raw": [], "rollup": []}
    for run in range(runs):
        topic = topics[run % len(topics)]
        order = ("raw", "rollup") if run % 2 == 0 else ("rollup", "raw")
        for mode in order:
            once(mode, topic)
    mismatches = _compare(answers)
    out = {}
    for mode, rows in samples.items():
        out[mode] = {
            "median_ms": round(statistics.median(r["ms"] for r in rows), 2),
            "min_ms": round(min(r["ms"] for r in rows), 2),
            "max_ms": round(max(r["ms"] for r in rows), 2),
            "median_sql_ms": round(statistics.median(r["sql_ms"] for r in rows), 2),
            "queries": rows[0]["q"],
            "runs": len(rows),
        }
    out["speedup"] = round(out["raw"]["median_ms"] / out["rollup"]["median_ms"], 1)
    out["buckets"] = len(next(iter(answers["rollup"].values())))
    out["mismatched_buckets"] = mismatches
    return out


def _compare(answers: dict) -> int:
    """Buckets whose answers differ (count, min, max exactly; avg to float rounding)."""
    bad = 0
    for topic, raw in answers["raw"].items():
        ours = answers["rollup"].get(topic, [])
        if len(ours) != len(raw):
            return max(len(ours), len(raw))
        for a, b in zip(raw, ours, strict=True):
            same = (a["date"], a["count"], a["min"], a["max"]) == (
                b["date"],
                b["count"],
                b["min"],
                b["max"],
            )
            if not same or not math.isclose(a["avg"], b["avg"], rel_tol=1e-9):
                bad += 1
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="iot_bench_rollups")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--topics", type=int, default=10)
    parser.add_argument("--runs", type=int, default=9, help="measured requests per mode")
    parser.add_argument(
        "--reuse-data", action="store_true", help="keep the loaded database and rollups"
    )
    args = parser.parse_args()

    # Data ends at the last midnight (UTC): every hour of the range is complete.
    end_epoch = int(time.time()) // DAY * DAY
    start_epoch = end_epoch - args.days * DAY
    topics = [f"bench{i}.temp" for i in range(args.topics)]
    report: dict = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "days": args.days,
        "topics": args.topics,
        "cpus": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
    }
    if not args.reuse_data:
        _database_create(args.database)
    _setup_django(args.database)
    if not args.reuse_data:
        report["load"] = load(args.database, topics, start_epoch, args.days)
        print(f"load: {report['load']}", flush=True)
        report["rollups"] = build_rollups(args.database)
        print(f"rollups: {report['rollups']}", flush=True)
    else:
        from telemetry.models import Reading

        first = Reading.objects.filter(topic=topics[0]).order_by("ts").values("ts").first()
        start_epoch = int(first["ts"].timestamp())
        end_epoch = start_epoch + args.days * DAY
    start = datetime.fromtimestamp(start_epoch, UTC)
    end = start + timedelta(days=args.days)
    report["range"] = [start.isoformat(), end.isoformat()]
    report["query"] = measure(topics, start, end, args.runs)
    report["loadavg_after"] = os.getloadavg()
    q = report["query"]
    print(
        f"30-day 1h aggregate ({q['buckets']} buckets, {args.runs} runs each): "
        f"raw median {q['raw']['median_ms']} ms (SQL {q['raw']['median_sql_ms']} ms), "
        f"rollup median {q['rollup']['median_ms']} ms (SQL {q['rollup']['median_sql_ms']} ms), "
        f"{q['speedup']}x; mismatched buckets: {q['mismatched_buckets']}; "
        f"load average {report['loadavg_before']} -> {report['loadavg_after']}"
    )
    REPORTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = REPORTS / f"rollups-{stamp}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"report: {path}")


if __name__ == "__main__":
    main()
