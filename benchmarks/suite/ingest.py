"""Ingest: readings/s end to end (published at QoS 1 -> stored in PostgreSQL) with 1, 2 and
4 ingesters in one MQTT shared-subscription group, while the API mix runs through the gateway.

Each run publishes sequenced readings (``{"value", "ts", "seq"}``, so a redelivery is stored
once) with one ``mosquitto_pub -l`` per topic (``benchmarks.ingest_bench.preload``: C, not
Python), to the topology's own authenticated broker, and polls the count of stored rows;
readings/s is the count over the time from the first publish to the last stored row. Each
publisher is a device of its own (one account per connection: the broker binds client ids
to user names), registered with ``POST /devices`` before the run, not timed.
"""

from __future__ import annotations

import threading
import time
import uuid

import psycopg2

from benchmarks import ingest_bench
from benchmarks.suite.common import Params, Progress, deployment, wrk

REPLICAS = {
    "monolith": {"web": 3},
    "msa": {"auth": 1, "telemetry": 2, "web": 0},
}


def steps_total(params: Params) -> int:
    return 2 * len(params.ingesters)


def stored(dsn: str, device: str) -> int:
    """Rows of the run's devices (``<device>-<t>``)."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM telemetry_reading WHERE topic LIKE %s", [f"{device}-%"]
        )
        (count,) = cursor.fetchone()
    conn.close()
    return count


def run(params: Params, progress: Progress) -> dict:
    out = {
        "readings": params.ingest_readings,
        "publishers": params.ingest_publishers,
        "background_connections": params.background_connections,
        "kinds": {},
    }
    for kind in ("monolith", "msa"):
        rows = []
        for count in params.ingesters:
            replicas = REPLICAS[kind] | {"ingest": count}
            with deployment(params, kind, replicas) as dep:
                rows.append(_measure(params, dep, count))
                row = rows[-1]
                progress.step(
                    f"ingest {kind} x{count}: {row['readings_per_s']:.0f} readings/s, "
                    f"{row['stored']}/{row['published']} stored, API "
                    f"{row['api']['rps']:.0f} req/s"
                )
        out["kinds"][kind] = rows
    return out


def _measure(params: Params, dep, count: int) -> dict:
    device = f"suiteing{uuid.uuid4().hex[:8]}"
    dsn = dep.telemetry_dsn()
    topo = dep.topology
    accounts = dep.devices_register(device, params.ingest_publishers)
    # The API mix runs for a fixed time that covers the ingest run at the expected rates.
    duration = max(params.duration_s * 2, 12)
    background: dict = {}

    def load() -> None:
        background.update(
            wrk(
                params, dep, "mix.lua", connections=params.background_connections, duration=duration
            )
        )

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    time.sleep(2)
    started = time.time()
    publish = {}
    publisher = threading.Thread(
        target=lambda: publish.update(
            seconds=ingest_bench.preload(
                topo.instances["broker"],
                messages=params.ingest_readings,
                topics=params.ingest_publishers,
                device=device,
                accounts=accounts,
            )
        ),
        daemon=True,
    )
    publisher.start()
    expected = (params.ingest_readings // params.ingest_publishers) * params.ingest_publishers
    deadline = time.monotonic() + 300
    count_now = 0
    while time.monotonic() < deadline:
        count_now = stored(dsn, device)
        if count_now >= expected:
            break
        time.sleep(0.2)
    finished = time.time()
    publisher.join(timeout=60)
    loader.join(timeout=duration + 60)
    seconds = finished - started
    return {
        "ingesters": count,
        "shared_group": count > 1,
        "published": expected,
        "stored": count_now,
        "seconds": round(seconds, 2),
        "publish_seconds": round(publish.get("seconds", 0.0), 2),
        "readings_per_s": round(count_now / seconds, 1),
        "overlap_with_api_load": round(min(1.0, (duration - 2) / seconds), 2),
        "api": background,
    }
