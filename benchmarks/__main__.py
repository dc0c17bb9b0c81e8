"""The monolith-vs-microservices suite.

    python -m benchmarks run [--quick] [--scenario api|hotspot|ingest|gateway|memory|faults ...]
                             [--out DIR] [--name PREFIX]

Brings up each deployment with ``benchmarks.topology``, loads data, runs the scenarios, tears
everything down and writes ``benchmarks/reports/<timestamp>/`` (report.md, results.json, PNG
plots). Needs PostgreSQL, Redis and Mosquitto (``mosquitto`` binary) on this machine, nginx
and wrk (Debian packages). See benchmarks/README.md, "Monolith vs microservices".
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REPORTS = REPO / "benchmarks" / "reports"


def parse_args(argv: list[str]) -> argparse.Namespace:
    from benchmarks.suite.common import SCENARIOS

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the suite and write a report")
    run.add_argument("--quick", action="store_true", help="short runs (a few minutes)")
    run.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="run only this scenario (repeatable); default: all",
    )
    run.add_argument("--out", type=Path, help="report directory (default: reports/<timestamp>)")
    run.add_argument("--name", default="iot_suite", help="prefix of databases and state dirs")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, argv: list[str]) -> Path:
    from benchmarks.suite import (
        api,
        common,
        faults,
        gateway,
        hotspot,
        ingest,
        machine,
        memory,
        plots,
        report,
    )

    modules = {
        "api": api,
        "hotspot": hotspot,
        "ingest": ingest,
        "gateway": gateway,
        "memory": memory,
        "faults": faults,
    }
    chosen = tuple(s for s in common.SCENARIOS if s in (args.scenario or common.SCENARIOS))
    params = common.Params.for_run(quick=args.quick, scenarios=chosen, name=args.name)
    started = datetime.now(UTC)
    out = args.out or REPORTS / started.strftime("%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    progress = common.Progress(sum(modules[s].steps_total(params) for s in chosen) + 1)
    progress.note(f"benchmarks: {', '.join(chosen)} ({'quick' if args.quick else 'full'}) -> {out}")
    results = {
        "started": started.isoformat(timespec="seconds"),
        "command": shlex.join(["python", "-m", "benchmarks", *argv]),
        "params": params.as_dict(),
        "machine": machine.facts(
            f"redis://127.0.0.1:6379/{params.redis_db}", "postgres://postgres@127.0.0.1:5432"
        ),
        "scenarios": {},
    }
    t0 = time.monotonic()
    for name in chosen:
        progress.note(f"scenario {name}")
        try:
            results["scenarios"][name] = modules[name].run(params, progress)
        except Exception as exc:  # the other scenarios still run; the report names the failure
            logging.getLogger("benchmarks").exception("scenario %s failed", name)
            results.setdefault("failed", {})[name] = f"{type(exc).__name__}: {exc}"[:2000]
        # Partial results survive a later scenario's failure.
        (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["elapsed_s"] = round(time.monotonic() - t0, 1)
    results["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    results["sla"] = {"original_table": _sla_tables()[0], "topologies": _sla_tables()[1]}
    results["plots"] = plots.write_all(results, out)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "report.md").write_text(report.markdown(results))
    progress.step(f"report written: {out / 'report.md'}")
    return out


def _sla_tables():
    from benchmarks import sla

    return sla.original_table(), sla.topology_table()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    if args.command == "run":
        out = run(args, argv)
        sys.stdout.write(f"{out / 'report.md'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
