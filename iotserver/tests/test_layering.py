"""DESIGN.md's arrows (who may import whom), checked on the source of every app module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APPS = ("accounts", "telemetry", "ingest", "dashboard", "sensors")
# What ingest may use of telemetry: its service and selector layers, the plain records
# those take and return (importable without Django), and the device layouts (kinds).
INGEST_MAY_USE = {
    "telemetry.services",
    "telemetry.selectors",
    "telemetry.records",
    "telemetry.layouts",
}


def _imports(package: str) -> list[tuple[str, str]]:
    """(module file, imported module) for every import in the package's non-test code."""
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        relative = path.relative_to(REPO)
        if "tests" in relative.parts or "migrations" in relative.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found += [(str(relative), alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found += [(str(relative), node.module)]
    return found


def _top(module: str) -> str:
    return module.split(".", 1)[0]


@pytest.mark.parametrize("package", APPS)
def test_no_app_imports_the_project_package(package):
    assert [(f, m) for f, m in _imports(package) if _top(m) == "iotserver"] == []


def test_telemetry_imports_neither_accounts_nor_ingest():
    banned = {"accounts", "ingest"}
    assert [(f, m) for f, m in _imports("telemetry") if _top(m) in banned] == []


def test_accounts_imports_neither_telemetry_nor_ingest():
    banned = {"telemetry", "ingest"}
    assert [(f, m) for f, m in _imports("accounts") if _top(m) in banned] == []


def test_ingest_uses_telemetry_only_through_services_selectors_and_records():
    used = [(f, m) for f, m in _imports("ingest") if _top(m) == "telemetry"]
    assert used, "ingest stores readings through telemetry"
    assert [(f, m) for f, m in used if m not in INGEST_MAY_USE] == []


def test_sensors_import_nothing_of_django_or_the_apps():
    banned = {"django", "rest_framework", "iotserver", *APPS} - {"sensors"}
    assert [(f, m) for f, m in _imports("sensors") if _top(m) in banned] == []
