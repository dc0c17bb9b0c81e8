"""SLA arithmetic against values computed by hand (30-day month = 2,592,000 s)."""

from __future__ import annotations

import pytest

from benchmarks import sla

MONTH = 30 * 86_400


def test_one_service_at_four_nines_is_down_259_seconds_a_month():
    assert sla.downtime_seconds(0.9999) == pytest.approx(259.2)


def test_one_service_at_five_nines_is_down_26_seconds_a_month():
    assert sla.downtime_seconds(0.99999) == pytest.approx(25.92)


def test_original_table():
    rows = {(r["per_service"], r["services"]): r for r in sla.original_table()}
    # 0.9999^2 = 0.99980001; 0.9999^3 = 0.999700029999
    assert rows[(0.9999, 1)]["availability"] == pytest.approx(0.9999, abs=1e-15)
    assert rows[(0.9999, 2)]["availability"] == pytest.approx(0.99980001, abs=1e-15)
    assert rows[(0.9999, 3)]["availability"] == pytest.approx(0.999700029999, abs=1e-15)
    assert rows[(0.9999, 1)]["downtime_s_per_month"] == pytest.approx(259.2)
    assert rows[(0.9999, 2)]["downtime_s_per_month"] == pytest.approx(0.00019999 * MONTH)
    assert rows[(0.9999, 2)]["downtime_s_per_month"] == pytest.approx(518.374, abs=1e-3)
    assert rows[(0.9999, 3)]["downtime_s_per_month"] == pytest.approx(777.522, abs=1e-3)
    assert rows[(0.99999, 1)]["downtime_s_per_month"] == pytest.approx(25.92)
    # Rounded as the design did: 99.98% and 99.97%.
    assert round(rows[(0.9999, 2)]["availability"] * 100, 2) == 99.98
    assert round(rows[(0.9999, 3)]["availability"] * 100, 2) == 99.97
    assert len(rows) == 6


def test_series_and_parallel_by_hand():
    assert sla.series(0.9, 0.8) == pytest.approx(0.72)
    assert sla.series() == 1.0
    assert sla.parallel(0.9, 0.8) == pytest.approx(0.98)  # 1 - 0.1 x 0.2
    assert sla.parallel() == 0.0
    assert sla.replicated(0.99, 2) == pytest.approx(0.9999)
    assert sla.replicated(0.9, 3) == pytest.approx(0.999)
    assert sla.replicated(0.9999, 1) == pytest.approx(0.9999)


def test_bad_values_are_refused():
    with pytest.raises(ValueError):
        sla.series(1.2)
    with pytest.raises(ValueError):
        sla.parallel(-0.1)
    with pytest.raises(ValueError):
        sla.replicated(0.9, 0)
    with pytest.raises(ValueError):
        sla.availability_from_downtime(1, 0)


def test_measured_availability_from_downtime():
    assert sla.availability_from_downtime(3.0, 120.0) == pytest.approx(0.975)
    assert sla.availability_from_downtime(0.0, 60.0) == 1.0
    assert sla.availability_from_downtime(90.0, 60.0) == 0.0


def test_dependency_graphs_name_every_part():
    assert set(sla.components_of("monolith")) == {
        "gateway", "web", "database", "cache", "broker", "ingest",
    }  # fmt: skip
    assert set(sla.components_of("msa")) == {
        "gateway", "auth", "telemetry", "users-db", "telemetry-db", "cache", "broker", "ingest",
    }  # fmt: skip


def test_system_availability_without_replicas():
    # (1 - x)^6 and (1 - x)^8 with x = 1e-4, expanded by hand to the 1e-12 term.
    mono = sla.system_availability("monolith", sla.uniform_components("monolith", 0.9999))
    msa = sla.system_availability("msa", sla.uniform_components("msa", 0.9999))
    assert mono["system"] == pytest.approx(1 - 6e-4 + 15e-8 - 20e-12, abs=1e-14)
    assert msa["system"] == pytest.approx(1 - 8e-4 + 28e-8 - 56e-12, abs=1e-14)
    # A read needs four parts in either deployment.
    assert mono["read"] == pytest.approx(0.9999**4)
    assert msa["read"] == pytest.approx(mono["read"])


def test_replicas_raise_availability():
    parts = sla.uniform_components("msa", 0.9999, {"telemetry": 2})
    read = sla.system_availability("msa", parts)["read"]
    # gateway x telemetry(2 replicas: 1 - 1e-8) x telemetry-db x cache
    assert read == pytest.approx(0.9999**3 * (1 - 1e-8), abs=1e-15)
    assert read > 0.9999**4


def test_topology_table_has_both_deployments():
    rows = sla.topology_table(0.9999)
    assert {(r["kind"], r["layout"]) for r in rows} == {
        ("monolith", "single"), ("monolith", "replicated"),
        ("msa", "single"), ("msa", "replicated"),
    }  # fmt: skip
    single = {r["kind"]: r for r in rows if r["layout"] == "single"}
    assert single["monolith"]["system_downtime_s_per_month"] == pytest.approx(
        (6e-4 - 15e-8 + 20e-12) * MONTH, rel=1e-9
    )
    assert (
        single["msa"]["system_downtime_s_per_month"]
        > single["monolith"]["system_downtime_s_per_month"]
    )


def test_missing_component_is_named():
    with pytest.raises(KeyError, match="cache"):
        sla.path_availability({}, ("cache",))
