"""Ingest benchmark: drain 200,000 pre-loaded QoS 1 readings into PostgreSQL, end to end.

    .venv/bin/python -m benchmarks.ingest_bench [--messages N] [--repeat R] [--variants ...]

Method (issue 4), all variants in one run, on this machine:

1. Setup (not measured): a fresh PostgreSQL database ``iot_bench_ingest`` migrated with
   ``manage.py migrate``; a dedicated Mosquitto on a free port, in memory, with
   ``max_queued_messages`` raised so nothing is dropped. This private broker is anonymous
   (``allow_anonymous true``), unlike every shipped configuration: the benchmark measures
   the consumer pipeline against reference subscribers whose fresh client ids and sessions
   per run it controls, and no device, account or ACL check takes part in it (the suite's
   ``ingest`` scenario runs the same pre-load against a topology's authenticated broker,
   with device accounts).
2. For each variant and repeat: empty the readings; register the consumer's persistent
   session(s) (MQTT 5, ``clean_start=False``, QoS 1 subscription), disconnect; pre-load
   ``--messages`` readings of ~60 bytes at QoS 1 with ``mosquitto_pub -l`` (one process per
   topic, small in-flight window); then start the consumer and time from its CONNACK to the
   last reading committed (or, for the ceiling, received and acknowledged).
3. Variants: ``ceiling`` (a paho subscriber that acks and discards), ``ceiling-readahead``
   (the same reading the socket through ``ingest.readahead``, as ``ingest_mqtt`` does),
   ``naive`` (one INSERT per message from the callback, the original design), ``ingest1``
   (``manage.py ingest_mqtt``), ``ingest2`` (two ``ingest_mqtt`` in one ``--shared-group``),
   ``mixed`` (``ingest_mqtt`` on what real firmware publishes: a quarter each of Tasmota
   ``tele/<name>/SENSOR`` (a BME280, 4 readings, local ``Time`` in the device's zone, units),
   Zigbee2MQTT device states (4 readings), SenML packs of 10 records, and the original
   format; the devices are registered with their kinds, so the ingester looks them up).
4. Every variant must store every reading exactly once (checked by count and by the set of
   sequence numbers; ``mixed``: by count, every reading having its own series and time);
   ingest_mqtt's duplicates counter is reported. The table gives messages and readings per
   second: ``mixed`` is compared with ``ingest1`` in readings per second.

Prints a table and writes ``benchmarks/reports/ingest-<timestamp>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parent.parent
REPORTS = REPO / "benchmarks" / "reports"
logger = logging.getLogger("ingest_bench")

TS0 = 1_700_000_000.0
REFERENCES = ("ceiling", "ceiling-readahead", "naive")
_SUMMARY = re.compile(r"ingest stopped: received=(\d+) stored=(\d+) duplicates=(\d+)")
_CONNECTED = re.compile(r"^(\S+ \S+) INFO ingest\.consumer connected to", re.MULTILINE)


@dataclass
class Result:
    variant: str
    seconds: float
    rate: float
    stored: int
    distinct: int
    duplicates: int | None = None
    received_per_process: list[int] = field(default_factory=list)
    cpu: dict = field(default_factory=dict)

    @property
    def readings_rate(self) -> float:
        return self.stored / self.seconds


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- database --------------------------------------------------------------------------------
class Database:
    def __init__(self, name: str, admin_dsn: str) -> None:
        self.name = name
        self.admin_dsn = admin_dsn
        self.url = f"postgres://postgres@127.0.0.1:5432/{name}"
        self.dsn = admin_dsn.replace("dbname=postgres", f"dbname={name}")

    def create(self, env: dict[str, str]) -> None:
        conn = psycopg2.connect(self.admin_dsn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (self.name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
            cur.execute(f'CREATE DATABASE "{self.name}"')
        conn.close()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=REPO,
            env={**env, "DATABASE_URL": self.url},
            check=True,
        )

    def execute(self, sql: str) -> list[tuple]:
        conn = psycopg2.connect(self.dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def reset(self) -> None:
        self.execute(
            "TRUNCATE telemetry_reading, telemetry_topic, telemetry_deadletter, "
            "telemetry_rollupstate"
        )
        self.execute("VACUUM ANALYZE telemetry_reading")


# --- broker ----------------------------------------------------------------------------------
class Broker:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        conf = directory / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "max_queued_messages 1000000\n"
            "max_inflight_messages 0\n"
            "message_size_limit 262144\n"
            f"user {os.environ.get('USER') or 'root'}\n"
        )
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.url = f"mqtt://127.0.0.1:{self.port}"
        time.sleep(0.5)

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def register_sessions(broker: Broker, client_ids: list[str], subscription: str) -> None:
    """Create each consumer's persistent session and subscription, then leave."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    for client_id in client_ids:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        client.connect("127.0.0.1", broker.port, clean_start=True, properties=properties)
        client.loop_start()
        result, mid = client.subscribe(subscription, qos=1)
        time.sleep(0.3)
        client.disconnect()
        client.loop_stop()


def drop_sessions(broker: Broker, client_ids: list[str]) -> None:
    """End the consumers' sessions, so later pre-loads are not queued for them too."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    for client_id in client_ids:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 0
        client.connect("127.0.0.1", broker.port, clean_start=True, properties=properties)
        client.loop_start()
        time.sleep(0.2)
        client.disconnect()
        client.loop_stop()


def preload(
    broker,
    *,
    messages: int,
    topics: int,
    device: str,
    accounts: list[tuple[str, str]] | None = None,
) -> float:
    """QoS 1 readings of ~60 bytes, one ``mosquitto_pub -l`` per topic; returns seconds.

    ``broker`` is anything with a loopback ``port``. Anonymous, on ``<device>/s<t>``; with
    ``accounts`` (one device's name and password per topic: one account per connection, as
    client ids are bound to user names) topic ``t`` is ``<name t>/s<t>``, published as that
    device. The password goes to mosquitto_pub in its options file
    (``$XDG_CONFIG_HOME/mosquitto_pub``), not on its command line."""
    started = time.monotonic()
    procs = []
    options = tempfile.TemporaryDirectory(prefix="preload-")
    per_topic = messages // topics
    if accounts is not None and len(accounts) != topics:
        raise ValueError(f"preload: {topics} topics need {topics} accounts, got {len(accounts)}")
    for t in range(topics):
        lines = "".join(
            json.dumps({"value": seq, "ts": round(TS0 + seq / 1000, 3), "seq": seq}) + "\n"
            for seq in range(t * per_topic, (t + 1) * per_topic)
        )
        argv = ["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-M", "20", "-l"]
        env = None
        if accounts is None:
            argv += ["-t", f"{device}/s{t}", "-i", f"preload-{device}-{t}"]
        else:
            name, password = accounts[t]
            argv += ["-t", f"{name}/s{t}", "-i", name]
            config = Path(options.name) / str(t)
            config.mkdir(mode=0o700)
            (config / "mosquitto_pub").write_text(f"-u {name}\n-P {password}\n")
            env = os.environ | {"XDG_CONFIG_HOME": str(config)}
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, env=env)
        procs.append((proc, lines))
    for proc, lines in procs:
        proc.stdin.write(lines.encode())
        proc.stdin.close()
    try:
        for proc, _ in procs:
            if proc.wait(timeout=600) != 0:
                raise RuntimeError("mosquitto_pub failed")
    finally:
        options.cleanup()
    return time.monotonic() - started


# --- the mixed stream of real firmware -----------------------------------------------------------
MIXED_TZ = "Europe/Berlin"
# (suffix of the device name, kind, readings per message)
MIXED_STREAMS = (
    ("t", "tasmota", 4),
    ("z", "zigbee2mqtt", 4),
    ("s", "native", 10),
    ("", "native", 1),
)


def mixed_devices(device: str) -> list[tuple[str, str]]:
    return [(device + suffix, kind) for suffix, kind, _ in MIXED_STREAMS]


def mixed_register(db: Database, env: dict[str, str], device: str) -> None:
    """Register the mixed stream's devices with their kinds (the Tasmota one in a non-UTC
    zone), as their owner would with ``POST /devices``."""
    code = (
        "from telemetry.services import device_create\n"
        f"for name, kind in {mixed_devices(device)!r}:\n"
        f"    device_create(owner_id=1, name=name, kind=kind, tz={MIXED_TZ!r})\n"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=REPO,
        env={**env, "DATABASE_URL": db.url},
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _mixed_lines(device: str, stream: int, count: int) -> tuple[str, str]:
    """(topic, one payload per line) of stream ``stream``: message i carries its own time
    (Tasmota, SenML, original) or is told apart by its receive time (Zigbee2MQTT)."""
    from zoneinfo import ZoneInfo

    suffix, _, _ = MIXED_STREAMS[stream]
    name = device + suffix
    zone = ZoneInfo(MIXED_TZ)
    if stream == 0:  # https://tasmota.github.io/docs/BME280/
        lines = []
        for i in range(count):
            local = datetime.fromtimestamp(TS0 + i, tz=zone).replace(tzinfo=None)
            lines.append(
                json.dumps(
                    {
                        "Time": local.isoformat(),
                        "BME280": {
                            "Temperature": 20 + i % 50 / 10,
                            "Humidity": 40 + i % 30,
                            "DewPoint": 8.5,
                            "Pressure": 1013.2,
                        },
                        "PressureUnit": "hPa",
                        "TempUnit": "C",
                    },
                    separators=(",", ":"),
                )
            )
        return f"tele/{name}/SENSOR", "\n".join(lines) + "\n"
    if stream == 1:  # https://www.zigbee2mqtt.io/guide/usage/mqtt_topics_and_messages.html
        lines = [
            json.dumps(
                {
                    "temperature": 20 + i % 50 / 10,
                    "humidity": 48,
                    "battery": 100,
                    "linkquality": i % 256,
                },
                separators=(",", ":"),
            )
            for i in range(count)
        ]
        return f"{name}/living room/sensor", "\n".join(lines) + "\n"
    if stream == 2:  # RFC 8428: base name, base time, units
        lines = [
            json.dumps(
                [
                    {
                        "bn": "urn:dev:mac:0024befffe804ff1:",
                        "bt": TS0 + i,
                        "n": "r0",
                        "u": "Cel",
                        "v": i,
                    }
                ]
                + [{"n": f"r{k}", "v": i + k} for k in range(1, 10)],
                separators=(",", ":"),
            )
            for i in range(count)
        ]
        return f"{name}/senml", "\n".join(lines) + "\n"
    lines = [
        json.dumps({"value": seq, "ts": round(TS0 + seq / 1000, 3), "seq": seq})
        for seq in range(count)
    ]
    return f"{name}/s0", "\n".join(lines) + "\n"


def mixed_expected(messages: int) -> int:
    per = messages // len(MIXED_STREAMS)
    return sum(per * readings for _, _, readings in MIXED_STREAMS)


def mixed_last(device: str, messages: int) -> list[tuple[str, float]]:
    """Probes for wait_stored: the last reading of each stream with times of its own."""
    per = messages // len(MIXED_STREAMS)
    return [
        (f"{device}t.BME280.Temperature", TS0 + per - 1),
        (f"{device}s.senml.urn:dev:mac:0024befffe804ff1:r9", TS0 + per - 1),
        (f"{device}.s0", round(TS0 + (per - 1) / 1000, 3)),
    ]


def preload_mixed(broker, *, messages: int, device: str) -> float:
    started = time.monotonic()
    per = messages // len(MIXED_STREAMS)
    procs = []
    for stream in range(len(MIXED_STREAMS)):
        topic, lines = _mixed_lines(device, stream, per)
        argv = ["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-M", "20", "-l", "-t", topic]
        argv += ["-i", f"preload-mixed-{device}-{stream}"]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE)
        procs.append((proc, lines))
    for proc, lines in procs:
        proc.stdin.write(lines.encode())
        proc.stdin.close()
    for proc, _ in procs:
        if proc.wait(timeout=600) != 0:
            raise RuntimeError("mosquitto_pub failed")
    return time.monotonic() - started


# --- CPU accounting ------------------------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK")


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    total = sum(fields)
    return total - fields[3] - fields[4], total  # idle and iowait are not busy


def _process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def _postgres_cpu() -> dict[int, float]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    cpu = _process_cpu(int(entry.name))
                    if cpu is not None:
                        out[int(entry.name)] = cpu
            except (FileNotFoundError, ProcessLookupError):
                continue
    return out


class CpuMeter:
    """Where the machine's CPU went while a consumer ran: the whole machine, the broker, and
    PostgreSQL (every postgres process); the rest is the consumer and the benchmark's polling."""

    def __init__(self, broker: Broker) -> None:
        self.broker_pid = broker.process.pid
        self.machine = _machine_jiffies()
        self.broker = _process_cpu(self.broker_pid) or 0.0
        self.postgres = _postgres_cpu()
        self.started = time.monotonic()

    def stop(self) -> dict:
        busy0, total0 = self.machine
        busy1, total1 = _machine_jiffies()
        postgres = sum(cpu - self.postgres.get(pid, 0.0) for pid, cpu in _postgres_cpu().items())
        broker = (_process_cpu(self.broker_pid) or 0.0) - self.broker
        busy = (busy1 - busy0) / _TICK
        return {
            "seconds": round(time.monotonic() - self.started, 2),
            "busy_pct": round(100 * (busy1 - busy0) / max(total1 - total0, 1), 1),
            "busy_cpu_s": round(busy, 2),
            "broker_cpu_s": round(broker, 2),
            "postgres_cpu_s": round(postgres, 2),
            "rest_cpu_s": round(busy - broker - postgres, 2),
        }


# --- consumers ---------------------------------------------------------------------------------
def last_readings(*, messages: int, topics: int, device: str) -> list[tuple[str, float]]:
    """(stored topic, epoch seconds) of the last reading ``preload`` publishes on each topic."""
    per_topic = messages // topics
    return [
        (f"{device}.s{t}", round(TS0 + ((t + 1) * per_topic - 1) / 1000, 3)) for t in range(topics)
    ]


def wait_stored(
    db: Database, expected: int, *, last: list[tuple[str, float]], timeout: float
) -> float:
    """The time at which all ``expected`` readings are committed.

    Polls with primary-key lookups of each topic's last reading, which cost the database next
    to nothing; only once every one is there does it count the table (a full index scan that,
    repeated every few milliseconds during the drain, would take CPU from the consumers)."""
    probe = " AND ".join(
        ["EXISTS (SELECT 1 FROM telemetry_reading WHERE topic = %s AND ts >= to_timestamp(%s))"]
        * len(last)
    )
    params = [value for topic, ts in last for value in (topic, ts - 0.0005)]
    conn = psycopg2.connect(db.dsn)
    conn.autocommit = True
    deadline = time.monotonic() + timeout
    count = 0
    try:
        with conn.cursor() as cur:
            while time.monotonic() < deadline:
                cur.execute(f"SELECT {probe}", params)
                if cur.fetchone()[0]:
                    cur.execute("SELECT count(*) FROM telemetry_reading")
                    (count,) = cur.fetchone()
                    if count >= expected:
                        return time.time()
                time.sleep(0.02)
    finally:
        conn.close()
    raise RuntimeError(f"only {count} of {expected} readings stored after {timeout}s")


def run_reference(
    mode: str,
    *,
    broker: Broker,
    db: Database,
    client_id: str,
    expected: int,
    receive_maximum: int,
    env: dict[str, str],
) -> tuple[float, dict]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.ingest_subscribers",
            mode,
            "--broker",
            broker.url,
            "--client-id",
            client_id,
            "--expect",
            str(expected),
            "--database-url",
            db.url,
            "--receive-maximum",
            str(receive_maximum),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    state = json.loads(out.stdout.strip().splitlines()[-1])
    if state["connects"] != 1:
        logger.warning("%s: connected %d times (redeliveries ignored)", mode, state["connects"])
    # The naive consumer commits inside the callback: its last message is its last commit.
    return state["done"] - state["connected"], state


def _asctime(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").replace(tzinfo=UTC).timestamp()


def run_ingest(
    *,
    processes: int,
    broker: Broker,
    db: Database,
    client_ids: list[str],
    group: str | None,
    expected: int,
    args,
    env: dict[str, str],
    logdir: Path,
    meter: CpuMeter,
    topic_filter: str | None = None,
    last: list[tuple[str, float]] | None = None,
) -> tuple[float, list[dict], dict]:
    procs = []
    for client_id in client_ids[:processes]:
        cmd = [
            sys.executable,
            "manage.py",
            "ingest_mqtt",
            "--broker",
            broker.url,
            "--client-id",
            client_id,
            "--topic",
            topic_filter or f"{args.device}/#",
            "--batch-size",
            str(args.batch_size),
            "--receive-maximum",
            str(args.receive_maximum),
            "--log-interval",
            "5",
        ]
        if group:
            cmd += ["--shared-group", group]
        log = logdir / f"{client_id}.log"
        with log.open("wb") as handle:
            proc = subprocess.Popen(
                cmd,
                cwd=REPO,
                env={**env, "DATABASE_URL": db.url, "TZ": "UTC"},
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        procs.append((proc, log))
    if last is None:
        last = last_readings(messages=expected, topics=args.topics, device=args.device)
    end = wait_stored(db, expected, last=last, timeout=900)
    cpu = meter.stop()
    summaries = []
    connected = []
    for proc, log in procs:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        text = log.read_text()
        stamps = _CONNECTED.findall(text)
        if not stamps:
            raise RuntimeError(f"ingester never connected:\n{text[-2000:]}")
        connected.append(_asctime(stamps[0]))
        received, stored, duplicates = map(int, _SUMMARY.findall(text)[-1])
        summaries.append(
            {
                "received": received,
                "stored": stored,
                "duplicates": duplicates,
                "exit": proc.returncode,
            }
        )
    return end - min(connected), summaries, cpu


# --- the run ----------------------------------------------------------------------------------
def measure(variant: str, *, broker: Broker, db: Database, args, env, logdir: Path) -> Result:
    db.reset()
    tag = uuid.uuid4().hex[:8]
    group = f"g{tag}" if variant == "ingest2" else None
    client_ids = [f"bench-{variant}-{tag}-{i}" for i in range(2 if group else 1)]
    mixed = variant == "mixed"
    topic_filter = "#" if mixed else f"{args.device}/#"
    register_sessions(
        broker, client_ids, f"$share/{group}/{topic_filter}" if group else topic_filter
    )
    rss_before = broker.rss_bytes()
    if mixed:
        seconds_preload = preload_mixed(broker, messages=args.messages, device=args.device)
    else:
        seconds_preload = preload(
            broker, messages=args.messages, topics=args.topics, device=args.device
        )
    queued_bytes = broker.rss_bytes() - rss_before
    logger.info(
        "%s: pre-loaded %d in %.1fs (broker +%.0f MB)",
        variant,
        args.messages,
        seconds_preload,
        queued_bytes / 1e6,
    )
    duplicates = None
    per_process: list[int] = []
    meter = CpuMeter(broker)
    if variant in REFERENCES:
        seconds, _state = run_reference(
            variant,
            broker=broker,
            db=db,
            client_id=client_ids[0],
            expected=args.messages,
            receive_maximum=args.receive_maximum,
            env=env,
        )
        cpu = meter.stop()
    else:
        seconds, summaries, cpu = run_ingest(
            processes=len(client_ids),
            broker=broker,
            db=db,
            client_ids=client_ids,
            group=group,
            expected=mixed_expected(args.messages) if mixed else args.messages,
            args=args,
            env=env,
            logdir=logdir,
            meter=meter,
            topic_filter=topic_filter,
            last=mixed_last(args.device, args.messages) if mixed else None,
        )
        duplicates = sum(s["duplicates"] for s in summaries)
        per_process = [s["received"] for s in summaries]
        if any(s["exit"] != 0 for s in summaries):
            raise RuntimeError(f"an ingester exited non-zero: {summaries}")
    drop_sessions(broker, client_ids)
    if variant.startswith("ceiling"):
        stored = distinct = args.messages  # it stores nothing; the count is what it received
    elif mixed:
        ((stored,),) = db.execute("SELECT count(*) FROM telemetry_reading")
        distinct = stored  # (topic, ts) is the key: every stored reading is distinct
        if stored != mixed_expected(args.messages):
            raise RuntimeError(f"mixed: {stored} rows of {mixed_expected(args.messages)}")
    else:
        ((stored, distinct),) = db.execute(
            "SELECT count(*), count(DISTINCT value) FROM telemetry_reading"
        )
        if stored != args.messages or distinct != args.messages:
            raise RuntimeError(f"{variant}: {stored} rows, {distinct} distinct of {args.messages}")
    result = Result(
        variant, seconds, args.messages / seconds, stored, distinct, duplicates, per_process, cpu
    )
    logger.info(
        "%s: %.2fs, %.0f msg/s, %.0f readings/s, cpu %s",
        variant,
        seconds,
        result.rate,
        result.readings_rate,
        cpu,
    )
    return result


def report(results: list[Result], args, meta: dict) -> str:
    by = {
        v: statistics.median(r.rate for r in results if r.variant == v)
        for v in dict.fromkeys(r.variant for r in results)
    }
    ceiling, naive, one = by.get("ceiling"), by.get("naive"), by.get("ingest1")
    readahead = by.get("ceiling-readahead")
    lines = [
        f"Ingest drain of {args.messages:,} pre-loaded QoS 1 readings into PostgreSQL "
        f"(median of {args.repeat}; batch {args.batch_size}, receive maximum "
        f"{args.receive_maximum}; {meta['cpus']} CPUs; load average before/after "
        f"{meta['loadavg_1m_before_after'][0]}/{meta['loadavg_1m_before_after'][1]})",
        "",
        "| variant | msg/s (runs) | x ceiling | x ceiling-readahead | x naive | x ingest1 "
        "| readings/s | readings/s x ingest1 "
        "| duplicates | split | CPU busy | CPU us/msg: consumer / broker / PostgreSQL |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]

    def ratio(rate: float, base: float | None, digits: int) -> str:
        return f"{rate / base:.{digits}f}" if base else ""

    def per_message(runs: list[Result], key: str) -> str:
        return f"{statistics.median(r.cpu[key] / r.stored * 1e6 for r in runs):.0f}"

    readings_by = {
        v: statistics.median(r.readings_rate for r in results if r.variant == v) for v in by
    }
    one_readings = readings_by.get("ingest1")
    for variant, rate in by.items():
        runs = [r for r in results if r.variant == variant]
        last = runs[-1]
        readings_rate = readings_by[variant]
        spread = ", ".join(f"{r.rate:,.0f}" for r in runs)
        busy = statistics.median(r.cpu["busy_pct"] for r in runs)
        lines.append(
            f"| {variant} | {rate:,.0f} ({spread}) | {ratio(rate, ceiling, 2)} | "
            f"{ratio(rate, readahead, 2)} | {ratio(rate, naive, 1)} | {ratio(rate, one, 2)} | "
            f"{readings_rate:,.0f} | {ratio(readings_rate, one_readings, 2)} | "
            f"{'' if last.duplicates is None else last.duplicates} | "
            f"{'/'.join(map(str, last.received_per_process))} | {busy:.0f}% | "
            f"{per_message(runs, 'rest_cpu_s')} / {per_message(runs, 'broker_cpu_s')} / "
            f"{per_message(runs, 'postgres_cpu_s')} |"
        )
    lines += [
        "",
        "CPU busy: both CPUs together, from the consumer's start until its last commit (a "
        "reference consumer: until it exits). CPU per message: PostgreSQL is every postgres "
        "process; consumer is the rest of the busy time (the consumer processes, this "
        "benchmark's polling, the system). The naive consumer's database session ends with it, "
        "before it can be read, so its PostgreSQL time is counted under consumer.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--topics", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--variants", default="ceiling,ceiling-readahead,naive,ingest1,ingest2,mixed"
    )
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--receive-maximum", type=int, default=20000)
    parser.add_argument("--database", default="iot_bench_ingest")
    parser.add_argument("--device", default="bench")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEMETRY_", "INGEST_"))}
    env.update(DEBUG="1", TELEMETRY_BACKEND="sql", LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
    env.pop("REDIS_URL", None)
    load_before = os.getloadavg()
    db = Database(args.database, "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
    db.create(env)
    if "mixed" in args.variants.split(","):
        mixed_register(db, env, args.device)
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(Path(tmp))
        try:
            for _ in range(args.repeat):
                for variant in args.variants.split(","):
                    results.append(
                        measure(variant, broker=broker, db=db, args=args, env=env, logdir=Path(tmp))
                    )
        finally:
            broker.stop()
    meta = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "loadavg_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "command": "python -m benchmarks.ingest_bench " + " ".join(argv or sys.argv[1:]),
    }
    table = report(results, args, meta)
    sys.stdout.write(table + "\n")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"ingest-{stamp}.md").write_text(table + "\n")
    (REPORTS / f"ingest-{stamp}.json").write_text(
        json.dumps(
            {"meta": meta, "args": vars(args), "results": [r.__dict__ for r in results]}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
