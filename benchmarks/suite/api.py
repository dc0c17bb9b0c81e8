"""API mix (70% latest, 20% 1-hour range, 8% topic list, 2% login + refresh) on both
deployments: throughput and p50/p95/p99 latency at each offered-load step.

Offered load is stepped by wrk's connection count (closed loop: each connection sends its next
request when the previous answer arrives), from a few connections to past saturation, where
throughput stops growing and only latency does. wrk2's constant-rate mode is not packaged by
Debian, and wrk's Lua ``delay()`` would pace per connection, not per run.
"""

from __future__ import annotations

from benchmarks.suite.common import Params, Progress, deployment, summarize_runs, web_workers, wrk

# Equal web worker count in both: 3 x 2 monolith workers; 1 x 2 auth + 2 x 2 telemetry.
REPLICAS = {
    "monolith": {"web": 3, "ingest": 1},
    "msa": {"auth": 1, "telemetry": 2, "web": 0, "ingest": 1},
}


def steps_total(params: Params) -> int:
    return 2 * (1 + len(params.steps) * params.reps)


def run(params: Params, progress: Progress) -> dict:
    out = {"script": "benchmarks/wrk/mix.lua", "replicas": REPLICAS, "kinds": {}}
    for kind in ("monolith", "msa"):
        with deployment(params, kind, REPLICAS[kind]) as dep:
            progress.step(f"api {kind}: up in {dep.load['up_s']} s, {dep.load['rows']} readings")
            wrk(params, dep, "mix.lua", connections=params.steps[-1], duration=params.warmup_s)
            steps = []
            for connections in params.steps:
                runs = []
                for rep in range(params.reps):
                    result = wrk(
                        params, dep, "mix.lua", connections=connections, duration=params.duration_s
                    )
                    runs.append(result)
                    progress.step(
                        f"api {kind} c={connections} rep {rep + 1}/{params.reps}: "
                        f"{result['rps']:.0f} req/s, p99 {result['p99_ms']:.0f} ms, "
                        f"non-2xx {result['non_2xx']}"
                    )
                steps.append(
                    {"connections": connections, "runs": runs, "summary": summarize_runs(runs)}
                )
            out["kinds"][kind] = {
                "replicas": dep.topology.replicas,
                "web_workers": web_workers(dep.topology),
                "setup": dep.load,
                "steps": steps,
                "saturation": saturation(steps),
            }
    return out


def saturation(steps: list[dict]) -> dict:
    """The step with the highest median throughput, and where adding load stopped helping
    (less than 5% more requests/s than the previous step)."""
    best = max(steps, key=lambda s: s["summary"]["rps"]["median"])
    knee = steps[-1]["connections"]
    for previous, current in zip(steps, steps[1:], strict=False):
        if current["summary"]["rps"]["median"] < 1.05 * previous["summary"]["rps"]["median"]:
            knee = previous["connections"]
            break
    return {
        "peak_rps": best["summary"]["rps"]["median"],
        "peak_connections": best["connections"],
        "peak_p99_ms": best["summary"]["p99_ms"]["median"],
        "knee_connections": knee,
    }
