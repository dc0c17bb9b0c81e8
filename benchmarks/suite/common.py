"""What every scenario shares: parameters, progress, topologies with data, wrk, CPU, memory."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks import telemetry_bench
from benchmarks.topology import BROKER_GROUPS, Topology

logger = logging.getLogger("benchmarks.suite")

REPO = Path(__file__).resolve().parents[2]
WRK_DIR = REPO / "benchmarks" / "wrk"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
SCENARIOS = ("api", "hotspot", "ingest", "gateway", "memory", "faults")


@dataclass
class Params:
    """Every knob of a run; written at the top of the report."""

    quick: bool = False
    scenarios: tuple[str, ...] = SCENARIOS
    name: str = "iot_suite"
    redis_db: int = 14
    workers: int = 2  # gunicorn workers per instance
    threads: int = 4  # gthread threads per worker
    wrk_threads: int = 2
    duration_s: int = 10
    warmup_s: int = 3
    reps: int = 3
    steps: tuple[int, ...] = (2, 8, 32, 96)  # wrk connections: offered-load steps
    load_connections: int = 32  # hot spot, gateway, memory under load
    background_connections: int = 8  # API mix beside the ingest scenario
    topics: int = 20
    readings_per_topic: int = 3600  # the last hour at 1 Hz
    ingesters: tuple[int, ...] = (1, 2, 4)
    ingest_readings: int = 40_000
    ingest_publishers: int = 4
    hotspot_telemetry: tuple[int, ...] = (1, 2, 3)  # msa: auth=1 and this many telemetry
    hotspot_web: tuple[int, ...] = (2, 3)  # monolith clones
    fault_window_s: int = 90
    fault_kill_every_s: tuple[float, float] = (6.0, 14.0)
    fault_outage_s: int = 10
    fault_rate: float = 40.0  # requests/s of the steady client
    fault_publish_rate: float = 20.0  # sequenced readings/s
    seed: int = 8

    @classmethod
    def for_run(cls, *, quick: bool, scenarios: tuple[str, ...], name: str) -> Params:
        if not quick:
            return cls(scenarios=scenarios, name=name)
        return cls(
            quick=True,
            scenarios=scenarios,
            name=name,
            duration_s=4,
            warmup_s=2,
            reps=2,
            steps=(4, 32),
            load_connections=16,
            topics=10,
            readings_per_topic=3600,
            ingesters=(1, 2),
            ingest_readings=8_000,
            hotspot_telemetry=(1, 2),
            hotspot_web=(2,),
            fault_window_s=25,
            fault_kill_every_s=(4.0, 8.0),
            fault_outage_s=5,
        )

    def as_dict(self) -> dict:
        return asdict(self)


# --- progress -------------------------------------------------------------------------------
class Progress:
    """One line per step on stderr: elapsed time, step count, what runs now."""

    def __init__(self, total: int, stream=None) -> None:
        self.total = max(1, total)
        self.done = 0
        self.started = time.monotonic()
        self.stream = stream or sys.stderr

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def step(self, text: str, *, advance: bool = True) -> None:
        if advance:
            self.done = min(self.total, self.done + 1)
        minutes, seconds = divmod(int(self.elapsed()), 60)
        bar_len = 20
        filled = round(bar_len * self.done / self.total)
        bar = "#" * filled + "." * (bar_len - filled)
        self.stream.write(
            f"[{minutes:02d}:{seconds:02d}] [{bar}] {self.done}/{self.total} {text}\n"
        )
        self.stream.flush()

    def note(self, text: str) -> None:
        self.step(text, advance=False)


# --- statistics -----------------------------------------------------------------------------
def spread(values: list[float]) -> dict:
    """Median with min, max and quartiles of repeated measurements."""
    values = [v for v in values if v is not None]
    if not values:
        return {"n": 0, "median": None, "min": None, "max": None, "q1": None, "q3": None}
    ordered = sorted(values)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {
        "n": len(ordered),
        "median": round(statistics.median(ordered), 3),
        "min": round(ordered[0], 3),
        "max": round(ordered[-1], 3),
        "q1": round(q1, 3),
        "q3": round(q3, 3),
    }


# --- HTTP helpers ---------------------------------------------------------------------------
def http_json(method: str, url: str, body: dict | None = None, token: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


# --- topology with data ---------------------------------------------------------------------
@dataclass
class Deployment:
    """A running topology plus the user, token and topics the load scripts use."""

    topology: Topology
    email: str = ""
    password: str = ""
    token: str = ""
    topics: list[str] = field(default_factory=list)
    range_start: str = ""
    range_end: str = ""
    load: dict = field(default_factory=dict)
    owner_token: str = ""

    @property
    def kind(self) -> str:
        return self.topology.kind

    def devices_register(self, prefix: str, count: int) -> list[tuple[str, str]]:
        """``count`` devices ``<prefix>-<i>`` (one broker account per publishing connection),
        as (user name, password) once the broker accepts them. Their owner is a second user,
        so that the bench user's topic list (``/iot`` in the mix) stays the loaded topics."""
        if not self.owner_token:
            gateway = self.topology.gateway_url
            suffix = uuid.uuid4().hex[:8]
            email, password = f"devices-{suffix}@example.com", f"Zq7-{uuid.uuid4().hex}"
            body = {"email": email, "username": f"devices{suffix}", "password": password}
            status, answer = http_json("POST", f"{gateway}/auth/register", body)
            if status != 201:
                raise RuntimeError(f"register: {status} {answer}")
            body = {"email": email, "password": password}
            status, answer = http_json("POST", f"{gateway}/auth/login", body)
            if status != 200:
                raise RuntimeError(f"login: {status} {answer}")
            self.owner_token = answer["auth_token"]
        devices = []
        for index in range(count):
            device = self.topology.device_register(self.owner_token, f"{prefix}-{index}")
            devices.append((device["username"], device["password"]))
        return devices

    def telemetry_dsn(self) -> str:
        databases = self.topology.databases
        database = databases.get("all") or databases["telemetry"]
        return f"{self.topology.pg_url.rstrip('/')}/{database}"

    def wrk_env(self) -> dict[str, str]:
        return {
            "SUITE_TOPICS": ",".join(self.topics),
            "SUITE_RANGE_START": self.range_start,
            "SUITE_RANGE_END": self.range_end,
            "SUITE_EMAIL": self.email,
            "SUITE_PASSWORD": self.password,
        }


def topology_options(params: Params, state_dir: Path) -> dict:
    """Same settings for both deployments; login throttles lifted so the mix's 2% of
    logins measure the login path, not the 429 answer."""
    return {
        "name": params.name,
        "state_dir": state_dir,
        "redis_url": f"redis://127.0.0.1:6379/{params.redis_db}",
        "flush_redis": True,
        "gunicorn_workers": params.workers,
        "gunicorn_threads": params.threads,
        "login_rate": "100000r/s",
        "login_burst": 100000,
        "topic_filter": "#",
        "extra_env": {
            "THROTTLE_LOGIN_IP": "1000000/min",
            "THROTTLE_LOGIN_EMAIL": "1000000/min",
            "THROTTLE_REGISTER_IP": "1000/min",
            "JWT_ACCESS_MINUTES": "240",
            "GUNICORN_LOG_LEVEL": "warning",
        },
    }


@contextlib.contextmanager
def deployment(
    params: Params,
    kind: str,
    replicas: dict[str, int],
    *,
    data: bool = True,
    supervise: bool = False,
    **overrides,
):
    """Bring a topology up (fresh databases), load the readings, yield it, tear it down."""
    state_dir = Path(tempfile.gettempdir()) / f"{params.name}-{kind}"
    options = topology_options(params, state_dir) | overrides
    started = time.monotonic()
    with Topology.up(
        kind, replicas=replicas, supervise=supervise, drop_databases=True, **options
    ) as topo:
        dep = Deployment(topology=topo)
        dep.load["up_s"] = round(time.monotonic() - started, 1)
        if data:
            load_data(params, dep)
        yield dep


def load_data(params: Params, dep: Deployment) -> None:
    """One user (id 1, owner of every bench device) and the last hour of 1 Hz readings."""
    gateway = dep.topology.gateway_url
    suffix = uuid.uuid4().hex[:8]
    dep.email, dep.password = f"bench-{suffix}@example.com", f"Zq7-{uuid.uuid4().hex}"
    status, body = http_json(
        "POST",
        f"{gateway}/auth/register",
        {"email": dep.email, "username": f"bench{suffix}", "password": dep.password},
    )
    if status != 201:
        raise RuntimeError(f"register: {status} {body}")
    if body["id"] != telemetry_bench.BENCH_OWNER_ID:
        raise RuntimeError(f"the bench user should be user 1 of a fresh database, got {body}")
    status, body = http_json(
        "POST", f"{gateway}/auth/login", {"email": dep.email, "password": dep.password}
    )
    if status != 200:
        raise RuntimeError(f"login: {status} {body}")
    dep.token = body["auth_token"]
    started = time.monotonic()
    end = int(time.time())
    rows = params.topics * params.readings_per_topic
    specs = telemetry_bench.topic_specs(rows=rows, topics=params.topics, day_topics=0, end=end)
    dsn = dep.telemetry_dsn()
    loaded = telemetry_bench.copy_topics(dsn, specs)
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "fill.json"
        config.write_text(json.dumps({"specs": specs}))
        env = {k: v for k, v in os.environ.items() if not telemetry_bench.SCRUBBED_ENV.match(k)} | {
            "DATABASE_URL": dsn,
            "IOTSERVER_ROLE": "all",
            "DEBUG": "1",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(REPO),
        }
        filled = telemetry_bench.run_child("fill", config, env)
    telemetry_bench.vacuum(dsn)
    dep.topics = [s["name"] for s in specs]
    # The 1-hour window every range request asks for: the loaded hour.
    dep.range_start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end - 3600))
    dep.range_end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end))
    dep.load.update(filled)
    dep.load.update(rows=loaded, topics=len(specs), load_s=round(time.monotonic() - started, 1))
    # Every endpoint of the mix answers before any load is put on it.
    checks = {
        "latest": f"/iot/{dep.topics[0]}/latest",
        "range": f"/iot/{dep.topics[0]}/{dep.range_start}/{dep.range_end}",
        "list": "/iot",
    }
    for label, path in checks.items():
        status, body = http_json("GET", f"{gateway}{path}", token=dep.token)
        if status != 200:
            raise RuntimeError(f"{label} {path}: {status} {str(body)[:300]}")
        if label == "range" and len(body["data"]) < params.readings_per_topic * 0.9:
            raise RuntimeError(f"range {path}: {len(body['data'])} readings, expected ~3600")


# --- processes: CPU and memory --------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_group_pids(pgid: int) -> list[int]:
    """Every process whose process group is ``pgid`` (an instance and its forked workers)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _stat(int(entry))
        if stat and int(stat[2]) == pgid:  # field 5 of stat: pgrp
            pids.append(int(entry))
    return sorted(pids)


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        stat = _stat(pid)
        if stat:
            total += int(stat[11]) + int(stat[12])  # utime, stime (fields 14, 15)
    return total / CLK_TCK


def topology_cpu(topo: Topology, groups: tuple[str, ...] | None = None) -> float:
    """CPU of the topology's processes (default: all but the broker and its account sync,
    which, like PostgreSQL and Redis, are infrastructure the figures leave out)."""
    pids = []
    for instance in topo.instances.values():
        if groups is None and instance.group in BROKER_GROUPS:
            continue
        if instance.pid and (groups is None or instance.group in groups):
            pids += process_group_pids(instance.pid)
    return cpu_seconds(pids)


def process_memory(pid: int) -> dict:
    """RSS (VmRSS) and PSS (smaps_rollup) of one process, in kB."""
    rss = pss = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return {"pid": pid, "rss_kb": rss, "pss_kb": pss}


def topology_memory(topo: Topology) -> dict:
    """Per instance (its whole process group) and per topology: RSS and PSS in MB; the broker
    and its account sync are left out, like PostgreSQL and Redis."""
    instances = {}
    for name, instance in topo.instances.items():
        if not instance.pid or instance.group in BROKER_GROUPS:
            continue
        procs = [process_memory(pid) for pid in process_group_pids(instance.pid)]
        instances[name] = {
            "group": instance.group,
            "processes": len(procs),
            "rss_mb": round(sum(p["rss_kb"] for p in procs) / 1024, 1),
            "pss_mb": round(sum(p["pss_kb"] for p in procs) / 1024, 1),
            "per_process_rss_mb": [round(p["rss_kb"] / 1024, 1) for p in procs],
        }
    return {
        "instances": instances,
        "total_rss_mb": round(sum(i["rss_mb"] for i in instances.values()), 1),
        "total_pss_mb": round(sum(i["pss_mb"] for i in instances.values()), 1),
        "processes": sum(i["processes"] for i in instances.values()),
    }


def web_workers(topo: Topology) -> int:
    """gunicorn worker processes (not masters) across every web instance."""
    return sum(
        len(process_group_pids(i.pid)) - 1
        for i in topo.instances.values()
        if i.pid and i.group in ("web", "auth", "telemetry")
    )


# --- wrk ------------------------------------------------------------------------------------
def wrk(
    params: Params,
    dep: Deployment,
    script: str,
    *,
    connections: int,
    duration: int,
    url: str | None = None,
    groups: tuple[str, ...] | None = None,
) -> dict:
    """One wrk run; returns its summary plus wrk's own CPU and the servers' CPU."""
    target = url or dep.topology.gateway_url
    threads = max(1, min(params.wrk_threads, connections))
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_DIR / script),
        "-H",
        f"Authorization: Bearer {dep.token}",
        target,
    ]
    env = os.environ | dep.wrk_env()
    server_cpu_before = topology_cpu(dep.topology, groups)
    with tempfile.TemporaryFile() as out:
        wall = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - wall
        out.seek(0)
        text = out.read().decode(errors="replace")
    server_cpu = topology_cpu(dep.topology, groups) - server_cpu_before
    line = next((x for x in text.splitlines() if x.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {text[-1500:]}")
    data = json.loads(line.removeprefix("WRKJSON "))
    seconds = data["duration_us"] / 1e6
    wrk_cpu = usage.ru_utime + usage.ru_stime
    data.update(
        rps=round(data["requests"] / seconds, 1),
        ok_rps=round(data["ok"] / seconds, 1),
        p50_ms=round(data["p50_us"] / 1000, 2),
        p95_ms=round(data["p95_us"] / 1000, 2),
        p99_ms=round(data["p99_us"] / 1000, 2),
        errors=data["errors_connect"]
        + data["errors_read"]
        + data["errors_write"]
        + data["errors_timeout"],
        wrk_cpu_s=round(wrk_cpu, 2),
        wrk_cpu_share=round(wrk_cpu / wall, 3),  # cores busy with load generation
        server_cpu_s=round(server_cpu, 2),
        server_cores=round(server_cpu / wall, 3),
        connections=connections,
        command=shlex.join(
            [
                a if not a.startswith("Authorization") else "Authorization: Bearer $TOKEN"
                for a in argv
            ]
        ),
    )
    data["requests_per_cpu_s"] = round(data["requests"] / server_cpu, 1) if server_cpu else None
    return data


def summarize_runs(runs: list[dict]) -> dict:
    keys = (
        "rps",
        "ok_rps",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "wrk_cpu_share",
        "server_cores",
        "requests_per_cpu_s",
    )
    out = {key: spread([r[key] for r in runs]) for key in keys}
    out["non_2xx"] = sum(r["non_2xx"] for r in runs)
    out["errors"] = sum(r["errors"] for r in runs)
    out["requests"] = sum(r["requests"] for r in runs)
    return out


def machine_load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class MemorySampler:
    """Samples a topology's memory every ``interval`` seconds in a thread; keeps the peak."""

    def __init__(self, topo: Topology, interval: float = 2.0) -> None:
        self.topo, self.interval = topo, interval
        self.peak: dict | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            sample = topology_memory(self.topo)
            if self.peak is None or sample["total_pss_mb"] > self.peak["total_pss_mb"]:
                self.peak = sample

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self.peak is None:
            self.peak = topology_memory(self.topo)
