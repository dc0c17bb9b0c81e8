"""Gateway cost: the same monolith instance loaded directly and through nginx.

One monolith instance (2 workers) so direct and proxied runs reach the same server; runs
alternate (direct, gateway, gateway, direct, ...) so machine load drifts hit both alike.
Two scripts: ``latest.lua`` (a cheap, cached request: the hop's fixed cost at its largest
share) and the API mix.
"""

from __future__ import annotations

from benchmarks.suite.common import Params, Progress, deployment, summarize_runs, wrk

REPLICAS = {"web": 1, "ingest": 1}
SCRIPTS = ("latest.lua", "mix.lua")


def steps_total(params: Params) -> int:
    return 1 + len(SCRIPTS) * 2 * params.reps


def run(params: Params, progress: Progress) -> dict:
    out = {"replicas": REPLICAS, "connections": params.load_connections, "scripts": {}}
    with deployment(params, "monolith", REPLICAS) as dep:
        progress.step(f"gateway: monolith up in {dep.load['up_s']} s")
        direct_url = dep.topology.instances["web-1"].url
        targets = {"direct": direct_url, "gateway": dep.topology.gateway_url}
        for script in SCRIPTS:
            wrk(
                params,
                dep,
                script,
                connections=params.load_connections,
                duration=params.warmup_s,
                url=direct_url,
            )
            runs = {"direct": [], "gateway": []}
            for rep in range(params.reps):
                order = ("direct", "gateway") if rep % 2 == 0 else ("gateway", "direct")
                for label in order:
                    result = wrk(
                        params,
                        dep,
                        script,
                        connections=params.load_connections,
                        duration=params.duration_s,
                        url=targets[label],
                    )
                    runs[label].append(result)
                    progress.step(
                        f"gateway {script} {label} rep {rep + 1}: {result['rps']:.0f} req/s, "
                        f"p50 {result['p50_ms']:.1f} ms"
                    )
            summary = {label: summarize_runs(items) for label, items in runs.items()}
            direct, gateway = summary["direct"], summary["gateway"]
            out["scripts"][script] = {
                "runs": runs,
                "summary": summary,
                "throughput_ratio": round(gateway["rps"]["median"] / direct["rps"]["median"], 3),
                "p50_added_ms": round(gateway["p50_ms"]["median"] - direct["p50_ms"]["median"], 2),
                "p99_added_ms": round(gateway["p99_ms"]["median"] - direct["p99_ms"]["median"], 2),
                "server_cpu_per_request_ms": {
                    label: round(1000 / summary[label]["requests_per_cpu_s"]["median"], 3)
                    for label in runs
                },
            }
    return out
