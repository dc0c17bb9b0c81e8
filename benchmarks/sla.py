"""Availability arithmetic: series and replicated (parallel) composition, monthly downtime.

The original design argued that a system of services in series is available only when all of
them are: R_s = R_1 x R_2 x ... x R_n (99.99% each -> 99.98% for two, 99.97% for three), and
that replicas raise a service's availability: n independent replicas of availability a are
all down with probability (1 - a)^n, so the group is up with 1 - (1 - a)^n.

This module reproduces that table and applies the same formulas to the dependency graph of
both deployments of iotserver (``GRAPHS``), and to availabilities measured by fault
injection (``benchmarks/suite/faults.py``). Both formulas assume independent failures;
the report says where that assumption breaks.

    python -m benchmarks.sla            # the original table and both topologies, as text
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SECONDS_PER_DAY = 86_400
MONTH_DAYS = 30  # a 30-day month: 99.99% -> 259.2 s of downtime


def _check(availability: float) -> float:
    if not 0.0 <= availability <= 1.0:
        raise ValueError(f"availability must be within [0, 1], got {availability!r}")
    return availability


def series(*availabilities: float) -> float:
    """Every part is needed: the product of the availabilities (1.0 for none)."""
    return math.prod(_check(a) for a in availabilities)


def parallel(*availabilities: float) -> float:
    """Any one part suffices: 1 - product of the unavailabilities (0.0 for none)."""
    if not availabilities:
        return 0.0
    return 1.0 - math.prod(1.0 - _check(a) for a in availabilities)


def replicated(availability: float, replicas: int) -> float:
    """``replicas`` independent copies of one part, any one of which suffices."""
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas!r}")
    return parallel(*([availability] * replicas))


def downtime_seconds(availability: float, *, days: float = MONTH_DAYS) -> float:
    """Expected seconds of downtime over ``days`` (a 30-day month by default)."""
    return (1.0 - _check(availability)) * days * SECONDS_PER_DAY


def availability_from_downtime(downtime_s: float, window_s: float) -> float:
    """Measured availability: the share of ``window_s`` that was not downtime."""
    if window_s <= 0:
        raise ValueError(f"window must be positive, got {window_s!r}")
    if downtime_s < 0:
        raise ValueError(f"downtime cannot be negative, got {downtime_s!r}")
    return max(0.0, 1.0 - downtime_s / window_s)


def original_table(
    per_service: tuple[float, ...] = (0.9999, 0.99999), services: tuple[int, ...] = (1, 2, 3)
) -> list[dict]:
    """The design's table: n services of availability a in series, and their monthly downtime."""
    rows = []
    for a in per_service:
        for n in services:
            composite = series(*([a] * n))
            rows.append(
                {
                    "per_service": a,
                    "services": n,
                    "availability": composite,
                    "downtime_s_per_month": downtime_seconds(composite),
                }
            )
    return rows


# --- this system's dependency graph ------------------------------------------------------


@dataclass(frozen=True)
class Component:
    """One part of a deployment: ``replicas`` interchangeable instances."""

    name: str
    availability: float
    replicas: int = 1

    @property
    def group_availability(self) -> float:
        return replicated(self.availability, self.replicas)


# What each user-visible function needs, per deployment. A database appears once per
# PostgreSQL database the topology uses (on this machine both live in one server).
GRAPHS: dict[str, dict[str, tuple[str, ...]]] = {
    "monolith": {
        "read": ("gateway", "web", "database", "cache"),
        "login": ("gateway", "web", "database", "cache"),
        "ingest": ("broker", "ingest", "database"),
    },
    "msa": {
        "read": ("gateway", "telemetry", "telemetry-db", "cache"),
        "login": ("gateway", "auth", "users-db", "cache"),
        "ingest": ("broker", "ingest", "telemetry-db"),
    },
}


def components_of(kind: str) -> tuple[str, ...]:
    """Every component of a deployment, in first-use order."""
    seen: dict[str, None] = {}
    for needs in GRAPHS[kind].values():
        seen.update(dict.fromkeys(needs))
    return tuple(seen)


def path_availability(components: dict[str, Component], needs: tuple[str, ...]) -> float:
    """A function is up when every group it needs has at least one instance up."""
    missing = [name for name in needs if name not in components]
    if missing:
        raise KeyError(f"no availability given for {', '.join(missing)}")
    return series(*(components[name].group_availability for name in needs))


def system_availability(kind: str, components: dict[str, Component]) -> dict[str, float]:
    """Availability of each function of ``kind`` and of the whole system (all functions up)."""
    out = {fn: path_availability(components, needs) for fn, needs in GRAPHS[kind].items()}
    out["system"] = path_availability(components, components_of(kind))
    return out


def uniform_components(
    kind: str, availability: float, replicas: dict[str, int] | None = None
) -> dict[str, Component]:
    """Every component of ``kind`` at the same per-instance availability."""
    replicas = replicas or {}
    return {
        name: Component(name, availability, replicas.get(name, 1)) for name in components_of(kind)
    }


def topology_table(
    availability: float = 0.9999, replicas: dict[str, dict[str, int]] | None = None
) -> list[dict]:
    """Both deployments at one per-instance availability, without and with replicas."""
    replicas = replicas or {
        "monolith": {"web": 2},
        "msa": {"telemetry": 2, "ingest": 2},
    }
    rows = []
    for kind in GRAPHS:
        for label, counts in (("single", {}), ("replicated", replicas.get(kind, {}))):
            result = system_availability(kind, uniform_components(kind, availability, counts))
            rows.append(
                {
                    "kind": kind,
                    "layout": label,
                    "replicas": counts,
                    "components": len(components_of(kind)),
                    **{f"{fn}_availability": value for fn, value in result.items()},
                    "system_downtime_s_per_month": downtime_seconds(result["system"]),
                }
            )
    return rows


def main() -> int:
    import sys

    out = sys.stdout
    out.write("n services in series (30-day month)\n")
    for row in original_table():
        out.write(
            f"  {row['per_service']:.3%} x {row['services']}: {row['availability']:.5%}  "
            f"{row['downtime_s_per_month']:8.1f} s/month\n"
        )
    out.write("\nthis system, every instance at 99.99%\n")
    for row in topology_table():
        out.write(
            f"  {row['kind']:<8} {row['layout']:<10} {row['components']} parts: "
            f"read {row['read_availability']:.5%} login {row['login_availability']:.5%} "
            f"ingest {row['ingest_availability']:.5%} system {row['system_availability']:.5%} "
            f"({row['system_downtime_s_per_month']:.0f} s/month)\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
