"""`python -m benchmarks run --quick --scenario api` produces a complete report (not the figures).

Slow (two topologies come up and take load): marked ``topology``. Needs PostgreSQL, Redis,
Mosquitto, nginx and wrk on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.topology, pytest.mark.mqtt, pytest.mark.timeout(240)]


def _empty_fields(value, path="$"):
    """Paths of every None, empty string, empty list or empty dict in ``value``."""
    if value is None or value == "" or value == [] or value == {}:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _empty_fields(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _empty_fields(v, f"{path}[{i}]")]
    return []


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    if not shutil.which("wrk"):
        pytest.fail("wrk is not installed (apt-get install wrk; see .ci/system-packages)")
    out = tmp_path_factory.mktemp("suite") / "report"
    argv = [
        sys.executable,
        "-m",
        "benchmarks",
        "run",
        "--quick",
        "--scenario",
        "api",
        "--out",
        str(out),
        "--name",
        f"iot_ci{os.getpid()}",
    ]
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # The progress display goes to the console while it runs.
    assert "api monolith c=" in result.stderr and "report written" in result.stderr
    return out


def test_report_files_are_written(report_dir):
    assert (report_dir / "report.md").stat().st_size > 0
    assert (report_dir / "api.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((report_dir / "results.json").read_text())
    assert "failed" not in results, results.get("failed")
    assert results["plots"] == ["api.png"]


def test_every_field_is_filled(report_dir):
    results = json.loads((report_dir / "results.json").read_text())
    # git's list of uncommitted files is legitimately empty on a clean checkout.
    results["machine"]["git"].pop("uncommitted")
    # The SLA table's unreplicated layouts have no replica counts.
    for row in results["sla"]["topologies"]:
        if row["layout"] == "single":
            assert row.pop("replicas") == {}
    assert _empty_fields(results) == []
    assert set(results["scenarios"]) == {"api"}
    api = results["scenarios"]["api"]
    assert set(api["kinds"]) == {"monolith", "msa"}
    for data in api["kinds"].values():
        assert len(data["steps"]) == len(results["params"]["steps"])
        for step in data["steps"]:
            assert len(step["runs"]) == results["params"]["reps"]
            for run in step["runs"]:
                for key in ("rps", "p50_ms", "p95_ms", "p99_ms", "wrk_cpu_share", "server_cores"):
                    assert isinstance(run[key], int | float), key
                assert run["requests"] > 0


def test_report_has_machine_parameters_sections_and_no_blanks(report_dir):
    text = (report_dir / "report.md").read_text()
    for heading in (
        "## Machine and software",
        "## Parameters",
        "## API mix",
        "## SLA arithmetic",
        "## Conclusions",
    ):
        assert heading in text, heading
    assert "cores; memory" in text and "wrk " in text
    assert "259.2 s" in text and "25.9 s" in text  # the original SLA table
    assert "None" not in text
