"""report.md from a results dict: machine and parameters first, a section per scenario, the
SLA tables, and conclusions in which every claim carries a figure from the same results."""

from __future__ import annotations

import json

from benchmarks import sla


def _s(summary: dict, digits: int = 0) -> str:
    """median [min-max] of a spread."""
    fmt = f"{{:.{digits}f}}"
    return (
        f"{fmt.format(summary['median'])} [{fmt.format(summary['min'])}-"
        f"{fmt.format(summary['max'])}]"
    )


def _pct(value: float | None, digits: int = 2) -> str:
    return "None" if value is None else f"{100 * value:.{digits}f}%"


def header(results: dict) -> list[str]:
    m = results["machine"]
    v = m["versions"]
    lines = [
        "# Monolith vs microservices: benchmark report",
        "",
        f"Run {results['started']} to {results['finished']} ({results['elapsed_s']:.0f} s); "
        f"command: `{results['command']}`.",
        "",
        "## Machine and software",
        "",
        f"- CPU: {m['cpu_model']}, {m['cores']} cores; memory {m['memory_gb']} GB; {m['os']}",
        f"- load average (1, 5, 15 min) at start {m['loadavg_start']}, at end "
        f"{results['loadavg_end']} (the machine is shared: other processes ran beside this)",
        f"- git {m['git']['commit'][:12]}, uncommitted changes in {len(m['git']['uncommitted'])} "
        "files of telemetry/, iotserver/, benchmarks/",
        "- " + ", ".join(f"{k} {val}" for k, val in v.items()),
        "- everything on one machine over loopback: the load generator (wrk), nginx, gunicorn, "
        "the ingesters, PostgreSQL, Redis and Mosquitto share the same cores",
        "",
        "## Parameters",
        "",
        "```json",
        json.dumps(results["params"], indent=1),
        "```",
        "",
        "Load generator: wrk with Lua scripts (`benchmarks/wrk/`), 2 threads; offered load is "
        "stepped by the number of connections (closed loop), not by a fixed rate. wrk's CPU "
        "is its own user+system time (`os.wait4` rusage) over the run's wall time, in cores. "
        "Server cores: CPU time of every process of the topology over the run's wall time. "
        "Figures are medians of the repetitions with [min-max].",
        "",
    ]
    return lines


def sla_section() -> list[str]:
    lines = [
        "## SLA arithmetic (`benchmarks/sla.py`)",
        "",
        "n services in series, 30-day month:",
        "",
        "| per service | services | composite | downtime/month |",
        "|---|---:|---:|---:|",
    ]
    for row in sla.original_table():
        lines.append(
            f"| {row['per_service']:.3%} | {row['services']} | "
            f"{row['availability']:.4%} | {row['downtime_s_per_month']:.1f} s |"
        )
    lines += [
        "",
        "This system's dependency graph (every instance at 99.99%; read = gateway, "
        "telemetry service or monolith web, its database, cache; login = gateway, auth or "
        "web, users database, cache; ingest = broker, ingester, telemetry database; "
        "system = all of them up):",
        "",
        "| deployment | layout | parts | read | login | ingest | system | system downtime/month |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in sla.topology_table():
        layout = row["layout"] + (f" {row['replicas']}" if row["replicas"] else "")
        lines.append(
            f"| {row['kind']} | {layout} | {row['components']} | "
            f"{row['read_availability']:.4%} | {row['login_availability']:.4%} | "
            f"{row['ingest_availability']:.4%} | {row['system_availability']:.4%} | "
            f"{row['system_downtime_s_per_month']:.0f} s |"
        )
    lines.append("")
    return lines


def api_section(r: dict) -> list[str]:
    lines = [
        "## API mix",
        "",
        "70% `/iot/<topic>/latest`, 20% `/iot/<topic>/<start>/<end>` (1 hour, 3,600 "
        "readings), 8% `/iot`, 2% login then refresh (`benchmarks/wrk/mix.lua`), through "
        f"the gateway. Replicas: monolith {r['replicas']['monolith']}, msa "
        f"{r['replicas']['msa']} (equal web worker count).",
        "",
        "| deployment | connections | req/s | p50 ms | p95 ms | p99 ms | non-2xx | errors | "
        "wrk cores | server cores |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, data in r["kinds"].items():
        for step in data["steps"]:
            s = step["summary"]
            lines.append(
                f"| {kind} | {step['connections']} | {_s(s['rps'])} | {_s(s['p50_ms'], 1)} | "
                f"{_s(s['p95_ms'], 1)} | {_s(s['p99_ms'], 1)} | {s['non_2xx']} | {s['errors']} | "
                f"{s['wrk_cpu_share']['median']:.2f} | {s['server_cores']['median']:.2f} |"
            )
    lines.append("")
    for kind, data in r["kinds"].items():
        sat = data["saturation"]
        lines.append(
            f"- {kind} ({data['web_workers']} web workers): peak {sat['peak_rps']:.0f} "
            f"req/s at {sat['peak_connections']} connections (p99 "
            f"{sat['peak_p99_ms']:.0f} ms); throughput stops growing by 5% past "
            f"{sat['knee_connections']} connections."
        )
    lines += ["", "![API mix](api.png)", ""]
    return lines


def hotspot_section(r: dict) -> list[str]:
    lines = [
        "## Hot spot: telemetry-only surge",
        "",
        f"`benchmarks/wrk/telemetry.lua` at {r['connections']} connections. Memory: peak "
        "of every process of the topology during the runs.",
        "",
        "| configuration | web workers | req/s | p99 ms | PSS MB | RSS MB | req/s per GB PSS | "
        "req/s per GB RSS | requests per server CPU-s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, c in r["configs"].items():
        lines.append(
            f"| {label} | {c['web_workers']} | {_s(c['summary']['rps'])} | "
            f"{c['summary']['p99_ms']['median']:.0f} | {c['memory_peak']['total_pss_mb']:.0f} | "
            f"{c['memory_peak']['total_rss_mb']:.0f} | {c['rps_per_gb_pss']:.0f} | "
            f"{c['rps_per_gb_rss']:.0f} | {c['requests_per_cpu_s']:.0f} |"
        )
    lines += [
        "",
        "| basis | monolith | msa | monolith req/s | msa req/s | msa / monolith | "
        "PSS MB mono / msa | workers mono / msa |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for c in r["comparisons"]:
        lines.append(
            f"| {c['basis']} | {c['monolith']} | {c['msa']} | {c['monolith_rps']:.0f} | "
            f"{c['msa_rps']:.0f} | {c['msa_over_monolith']:.2f} | "
            f"{c['monolith_pss_mb']:.0f} / {c['msa_pss_mb']:.0f} | "
            f"{c['monolith_workers']} / {c['msa_workers']} |"
        )
    lines += ["", "![hot spot](hotspot.png)", ""]
    return lines


def ingest_section(r: dict) -> list[str]:
    lines = [
        "## Ingest under API load",
        "",
        f"{r['readings']} sequenced QoS 1 readings from {r['publishers']} `mosquitto_pub` "
        "processes to a private broker, while the API mix runs at "
        f"{r['background_connections']} connections.",
        "",
        "| deployment | ingesters | readings/s | stored / published | seconds | "
        "API req/s beside it | API p99 ms |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for kind, rows in r["kinds"].items():
        for row in rows:
            lines.append(
                f"| {kind} | {row['ingesters']} | {row['readings_per_s']:.0f} | "
                f"{row['stored']} / {row['published']} | {row['seconds']:.1f} | "
                f"{row['api']['rps']:.0f} | {row['api']['p99_ms']:.0f} |"
            )
    lines += ["", "![ingest](ingest.png)", ""]
    return lines


def gateway_section(r: dict) -> list[str]:
    lines = [
        "## Gateway cost",
        "",
        f"One monolith instance ({r['replicas']}), {r['connections']} connections, direct "
        "to gunicorn vs through nginx; runs alternate.",
        "",
        "| script | path | req/s | p50 ms | p99 ms | server CPU ms per request |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for script, data in r["scripts"].items():
        for label in ("direct", "gateway"):
            s = data["summary"][label]
            lines.append(
                f"| {script} | {label} | {_s(s['rps'])} | {_s(s['p50_ms'], 1)} | "
                f"{_s(s['p99_ms'], 1)} | {data['server_cpu_per_request_ms'][label]} |"
            )
    lines.append("")
    for script, data in r["scripts"].items():
        lines.append(
            f"- {script}: gateway/direct throughput {data['throughput_ratio']:.2f}, "
            f"p50 {data['p50_added_ms']:+.1f} ms, p99 {data['p99_added_ms']:+.1f} ms."
        )
    lines += ["", "![gateway](gateway.png)", ""]
    return lines


def memory_section(r: dict) -> list[str]:
    lines = [
        "## Memory",
        "",
        f"Replicas as in the API scenario; under load: the API mix at {r['connections']} "
        "connections (peak sample). Per instance: its whole process group (gunicorn "
        "master + workers).",
        "",
        "| deployment | instance | processes | idle RSS MB | idle PSS MB | load RSS MB | "
        "load PSS MB |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for kind, data in r["kinds"].items():
        for name, idle in data["idle"]["instances"].items():
            load = data["load"]["instances"].get(name, {"rss_mb": None, "pss_mb": None})
            lines.append(
                f"| {kind} | {name} | {idle['processes']} | {idle['rss_mb']} | "
                f"{idle['pss_mb']} | {load['rss_mb']} | {load['pss_mb']} |"
            )
        lines.append(
            f"| {kind} | **total** | {data['idle']['processes']} | "
            f"**{data['idle']['total_rss_mb']}** | **{data['idle']['total_pss_mb']}** | "
            f"**{data['load']['total_rss_mb']}** | **{data['load']['total_pss_mb']}** |"
        )
    lines += [
        "",
        "PostgreSQL, Redis and Mosquitto are shared by both deployments and not counted.",
        "",
        "![memory](memory.png)",
        "",
    ]
    return lines


def faults_section(r: dict) -> list[str]:
    lines = [
        "## Fault injection and the SLA formula",
        "",
        f"Steady reads at {r['rate_rps']:.0f} req/s through the gateway (one retry after "
        f"{r['retry_delay_s']} s), sequenced QoS 1 readings at {r['publish_rate']:.0f}/s. "
        f"Kills: {r['window_s']} s window, a random application instance every "
        f"{r['kill_every_s'][0]:.0f}-{r['kill_every_s'][1]:.0f} s (SIGKILL of its process "
        f"group; the launcher restarts it). Broker and database outages: {r['outage_s']} s "
        "each.",
        "",
        "| deployment | phase | requests | success first try | with one retry | "
        "predicted by formula |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for kind, data in r["kinds"].items():
        pred = data["prediction"]
        for phase, p in data["phases"].items():
            lines.append(
                f"| {kind} | {phase} | {p['requests']} | {_pct(p['success_ratio'], 3)} | "
                f"{_pct(p['success_ratio_with_retry'], 3)} | "
                f"{_pct(pred[phase]['predicted'], 3)} |"
            )
    lines.append("")
    for kind, data in r["kinds"].items():
        pred, readings = data["prediction"], data["readings"]
        kills = data["phases"]["kills"]["kills"]
        downs = ", ".join(f"{k['instance']} {k['downtime_s']:.1f} s" for k in kills)
        lines.append(
            f"- {kind}: {len(kills)} kills ({downs}); per-group availability from "
            f"measured downtime {pred['group_availability']}; readings published "
            f"{readings['published']}, stored {readings['stored']}, lost "
            f"**{readings['lost']}**."
        )
        in_gap = readings.get("lost_published_from_broker_stop_to_resubscribed")
        if in_gap is not None:
            resub = data["phases"]["broker"].get("ingesters_resubscribed_after_s")
            lines.append(
                f"  Of those, {in_gap} were published between the broker's stop and the "
                f"ingesters' resubscription ({resub} s after its start): Mosquitto 2.0 does "
                "not restore shared subscriptions from persistence "
                "(deploy/mosquitto/README.md)."
            )
    lines += ["", "![faults](faults.png)", ""]
    return lines


def disagreements(r: dict) -> list[str]:
    out = []
    for kind, data in r["kinds"].items():
        pred = data["prediction"]
        k, d = pred["kills"], pred["database"]
        out.append(
            f"{kind}, kills: the formula (measured per-instance downtime, replicas in parallel, "
            f"independent failures) predicts {_pct(k['predicted'], 3)} of reads served; measured "
            f"{_pct(k['measured'], 3)} first try, {_pct(k['measured_with_retry'], 3)} with one "
            "retry. "
            + (
                "The measurement is lower: a kill also fails the requests in flight on the killed "
                "instance and those nginx sends before it marks the instance failed, which "
                "downtime-as-availability does not count. "
                if (k["measured"] or 0) < k["predicted"]
                else "The measurement is at or above the formula: nginx moves a failed GET to the "
                "other replica (`proxy_next_upstream`), so a dead replica costs almost nothing "
                "while one is left, and only one instance is down at a time. "
            )
        )
        out.append(
            f"{kind}, database outage: the formula puts the read path in series with its "
            f"database and predicts {_pct(d['predicted'], 3)} over the phase; measured "
            f"{_pct(d['measured'], 3)}. "
            + (
                "Reads did better than the formula because `/latest` and the owner check are "
                "answered from Redis without touching the database, so the read path does not "
                "depend on the database in series as the graph assumes."
                if (d["measured"] or 0) > d["predicted"]
                else "Reads did worse than the formula: after the database is back, each worker's "
                "broken connections fail once more before Django reconnects, so the outage "
                "outlasts the database's own downtime."
            )
        )
    return out


def conclusions(results: dict) -> list[str]:
    sc = results["scenarios"]
    lines = [
        "## Conclusions",
        "",
        "Every statement below quotes a figure from the tables above.",
        "",
    ]
    if "api" in sc:
        mono, msa = sc["api"]["kinds"]["monolith"], sc["api"]["kinds"]["msa"]
        ratio = msa["saturation"]["peak_rps"] / mono["saturation"]["peak_rps"]
        lines.append(
            f"- **Throughput (API mix, equal workers):** peak {mono['saturation']['peak_rps']:.0f} "
            f"req/s monolith vs {msa['saturation']['peak_rps']:.0f} req/s msa (msa/monolith "
            f"{ratio:.2f}); p99 at the peak {mono['saturation']['peak_p99_ms']:.0f} vs "
            f"{msa['saturation']['peak_p99_ms']:.0f} ms. "
            + (
                "The monolith served more in this run."
                if ratio < 0.97
                else "Within 3%: at equal workers the split cost no throughput here."
                if ratio <= 1.03
                else "The msa served more in this run."
            )
            + " Compare with the spread in the table: where the [min-max] ranges overlap, the "
            "difference is within this machine's run-to-run noise."
        )
    if "hotspot" in sc:
        for c in sc["hotspot"]["comparisons"]:
            lines.append(
                f"- **Hot spot, {c['basis']}:** {c['msa']} {c['msa_rps']:.0f} req/s "
                f"({c['msa_pss_mb']:.0f} MB PSS, {c['msa_workers']} workers) vs {c['monolith']} "
                f"{c['monolith_rps']:.0f} req/s ({c['monolith_pss_mb']:.0f} MB, "
                f"{c['monolith_workers']} workers): msa/monolith {c['msa_over_monolith']:.2f}."
            )
        best = max(sc["hotspot"]["configs"].items(), key=lambda kv: kv[1]["rps_per_gb_pss"])
        lines.append(
            f"- **Cost per unit:** the best req/s per GB PSS is {best[0]} "
            f"({best[1]['rps_per_gb_pss']:.0f}); requests per server CPU-second: "
            + ", ".join(
                f"{k} {v['requests_per_cpu_s']:.0f}" for k, v in sc["hotspot"]["configs"].items()
            )
            + ". "
            "On 2 cores more workers add memory, not CPU: throughput is bound by the "
            "cores, whichever deployment holds them."
        )
    if "ingest" in sc:
        for kind, rows in sc["ingest"]["kinds"].items():
            lines.append(
                f"- **Ingest, {kind}:** "
                + ", ".join(
                    f"{r['ingesters']} ingester(s) {r['readings_per_s']:.0f} readings/s"
                    for r in rows
                )
                + " while the API mix ran; more ingesters help only while a "
                "core is free."
            )
    if "gateway" in sc:
        g = sc["gateway"]["scripts"]
        lines.append(
            "- **The extra hop:** "
            + "; ".join(
                f"{s}: throughput x{d['throughput_ratio']:.2f}, p50 {d['p50_added_ms']:+.1f} ms"
                for s, d in g.items()
            )
            + ". Both deployments pay it in this setup (the monolith is "
            "also behind nginx); a monolith without a gateway would not."
        )
    if "memory" in sc:
        m = sc["memory"]["kinds"]
        lines.append(
            "- **Memory:** idle PSS monolith "
            f"{m['monolith']['idle']['total_pss_mb']:.0f} MB vs msa "
            f"{m['msa']['idle']['total_pss_mb']:.0f} MB; under load "
            f"{m['monolith']['load']['total_pss_mb']:.0f} vs "
            f"{m['msa']['load']['total_pss_mb']:.0f} MB (RSS "
            f"{m['monolith']['load']['total_rss_mb']:.0f} vs "
            f"{m['msa']['load']['total_rss_mb']:.0f} MB). Each role loads the same Django "
            "project, so a service costs about what a monolith instance costs."
        )
    if "faults" in sc:
        for kind, data in sc["faults"]["kinds"].items():
            ph = data["phases"]
            lines.append(
                f"- **Faults, {kind}:** reads served first try / with one retry: kills "
                f"{_pct(ph['kills']['success_ratio'])} / "
                f"{_pct(ph['kills']['success_ratio_with_retry'])}, broker stop "
                f"{_pct(ph['broker']['success_ratio'])} / "
                f"{_pct(ph['broker']['success_ratio_with_retry'])}, database outage "
                f"{_pct(ph['database']['success_ratio'])} / "
                f"{_pct(ph['database']['success_ratio_with_retry'])}; readings lost "
                f"{data['readings']['lost']} of {data['readings']['published']}."
            )
        lines += ["", "Where the formula and the measurement disagree, and why:", ""]
        lines += [f"- {text}" for text in disagreements(sc["faults"])]
    if "api" in sc or "hotspot" in sc:
        lines += [
            "",
            "For whom: on one small machine the split buys isolation (a telemetry surge "
            "or crash leaves auth alone) and independent scaling, paid for in memory per "
            "extra process and one more component in series; the figures above say how "
            "much of each on this machine.",
        ]
    lines.append("")
    return lines


SECTIONS = {
    "api": api_section,
    "hotspot": hotspot_section,
    "ingest": ingest_section,
    "gateway": gateway_section,
    "memory": memory_section,
    "faults": faults_section,
}


def markdown(results: dict) -> str:
    lines = header(results)
    for name, section in SECTIONS.items():
        if name in results["scenarios"]:
            lines += section(results["scenarios"][name])
    for name, error in results.get("failed", {}).items():
        lines += [f"## Scenario {name}: FAILED", "", "```", error, "```", ""]
    lines += sla_section()
    lines += conclusions(results)
    return "\n".join(lines) + "\n"
