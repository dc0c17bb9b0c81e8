"""Hot spot: a telemetry-only surge (``telemetry.lua``: latest, 1-hour range and topic list in
the mix's proportions, no logins). The monolith scales by cloning the whole application; the
microservice deployment adds telemetry instances only (auth stays at one). Every instance
runs the same gunicorn settings, so instances x workers is the worker count; memory (RSS and
PSS of every process of the topology, peak during the load) and the servers' CPU time are
measured, giving requests/s per GB and requests per CPU-second.
"""

from __future__ import annotations

from benchmarks.suite.common import (
    MemorySampler,
    Params,
    Progress,
    deployment,
    summarize_runs,
    web_workers,
    wrk,
)


def configs(params: Params) -> list[tuple[str, str, dict]]:
    out = [(f"monolith web={n}", "monolith", {"web": n, "ingest": 1}) for n in params.hotspot_web]
    out += [
        (f"msa auth=1 telemetry={n}", "msa", {"auth": 1, "telemetry": n, "web": 0, "ingest": 1})
        for n in params.hotspot_telemetry
    ]
    return out


def steps_total(params: Params) -> int:
    return len(configs(params)) * (1 + params.reps)


def run(params: Params, progress: Progress) -> dict:
    out = {
        "script": "benchmarks/wrk/telemetry.lua",
        "connections": params.load_connections,
        "configs": {},
    }
    for label, kind, replicas in configs(params):
        with deployment(params, kind, replicas) as dep:
            progress.step(f"hotspot {label}: up in {dep.load['up_s']} s")
            wrk(
                params,
                dep,
                "telemetry.lua",
                connections=params.load_connections,
                duration=params.warmup_s,
            )
            runs = []
            with MemorySampler(dep.topology) as memory:
                for rep in range(params.reps):
                    result = wrk(
                        params,
                        dep,
                        "telemetry.lua",
                        connections=params.load_connections,
                        duration=params.duration_s,
                    )
                    runs.append(result)
                    progress.step(f"hotspot {label} rep {rep + 1}: {result['rps']:.0f} req/s")
            summary = summarize_runs(runs)
            rps = summary["rps"]["median"]
            peak = memory.peak
            out["configs"][label] = {
                "kind": kind,
                "replicas": dep.topology.replicas,
                "web_workers": web_workers(dep.topology),
                "runs": runs,
                "summary": summary,
                "memory_peak": peak,
                "rps_per_gb_pss": round(rps / (peak["total_pss_mb"] / 1024), 1),
                "rps_per_gb_rss": round(rps / (peak["total_rss_mb"] / 1024), 1),
                "requests_per_cpu_s": summary["requests_per_cpu_s"]["median"],
            }
    out["comparisons"] = compare(out["configs"])
    return out


def compare(results: dict) -> list[dict]:
    """Monolith vs msa at equal web worker count, and at (nearest not larger) memory."""
    mono = {k: v for k, v in results.items() if v["kind"] == "monolith"}
    msa = {k: v for k, v in results.items() if v["kind"] == "msa"}
    rows = []
    for mono_label, m in mono.items():
        same_workers = [k for k, v in msa.items() if v["web_workers"] == m["web_workers"]]
        for k in same_workers:
            rows.append(_pair("equal workers", mono_label, m, k, msa[k]))
        budget = m["memory_peak"]["total_pss_mb"]
        fitting = [k for k, v in msa.items() if v["memory_peak"]["total_pss_mb"] <= budget * 1.02]
        if fitting:
            k = max(fitting, key=lambda key: msa[key]["memory_peak"]["total_pss_mb"])
            rows.append(_pair("equal memory (PSS)", mono_label, m, k, msa[k]))
    return rows


def _pair(basis: str, mono_label: str, m: dict, msa_label: str, s: dict) -> dict:
    m_rps, s_rps = m["summary"]["rps"]["median"], s["summary"]["rps"]["median"]
    return {
        "basis": basis,
        "monolith": mono_label,
        "msa": msa_label,
        "monolith_rps": m_rps,
        "msa_rps": s_rps,
        "msa_over_monolith": round(s_rps / m_rps, 3),
        "monolith_pss_mb": m["memory_peak"]["total_pss_mb"],
        "msa_pss_mb": s["memory_peak"]["total_pss_mb"],
        "monolith_workers": m["web_workers"],
        "msa_workers": s["web_workers"],
    }
