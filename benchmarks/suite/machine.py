"""The machine and software a report was measured on."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from benchmarks import telemetry_bench


def _first_line(argv: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if text else "unknown"
    return "unknown"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_gb() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    return 0.0


def redis_version(url: str) -> str:
    import redis

    with contextlib.suppress(Exception):
        return str(redis.Redis.from_url(url).info("server")["redis_version"])
    return "unknown"


def facts(redis_url: str, pg_url: str) -> dict:
    versions = {
        "python": platform.python_version(),
        "kernel": platform.release(),
        "wrk": _first_line(["wrk", "-v"]),
        "nginx": _first_line(["nginx", "-v"]),
        "mosquitto": _first_line(["mosquitto", "-h"]),
        "redis": redis_version(redis_url),
    }
    for package in (
        "Django",
        "djangorestframework",
        "gunicorn",
        "psycopg2-binary",
        "paho-mqtt",
        "matplotlib",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    try:
        versions["postgresql"] = telemetry_bench.postgres_facts(pg_url)["version"]
    except Exception:  # noqa: BLE001 (reported as unknown, the run goes on)
        versions["postgresql"] = "unknown"
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": memory_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "versions": versions,
        "git": telemetry_bench.git_facts(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
