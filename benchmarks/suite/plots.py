"""PNG plots of a results dict (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after the backend is chosen)

COLORS = {"monolith": "tab:blue", "msa": "tab:orange"}


def _err(summary: dict) -> tuple[float, float, float]:
    m = summary["median"]
    return m, m - summary["min"], summary["max"] - m


def api(results: dict, out: Path) -> list[str]:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for kind, data in results["kinds"].items():
        xs = [s["connections"] for s in data["steps"]]
        rps = [_err(s["summary"]["rps"]) for s in data["steps"]]
        left.errorbar(
            xs,
            [r[0] for r in rps],
            yerr=[[r[1] for r in rps], [r[2] for r in rps]],
            marker="o",
            capsize=3,
            label=kind,
            color=COLORS[kind],
        )
        for key, style in (("p50_ms", ":"), ("p95_ms", "--"), ("p99_ms", "-")):
            right.plot(
                xs,
                [s["summary"][key]["median"] for s in data["steps"]],
                style,
                marker="o",
                color=COLORS[kind],
                label=f"{kind} {key[:-3]}",
            )
    left.set(
        xscale="log",
        xlabel="wrk connections (offered load)",
        ylabel="requests/s",
        title="API mix: throughput (median, min-max)",
    )
    right.set(
        xscale="log",
        yscale="log",
        xlabel="wrk connections",
        ylabel="latency ms",
        title="API mix: latency (median of runs)",
    )
    left.legend()
    right.legend(fontsize=7)
    return [_save(fig, out / "api.png")]


def hotspot(results: dict, out: Path) -> list[str]:
    labels = list(results["configs"])
    data = [results["configs"][k] for k in labels]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    colors = [COLORS[d["kind"]] for d in data]
    short = [k.replace("msa auth=1 ", "msa ").replace("monolith ", "mono ") for k in labels]
    axes[0].bar(short, [d["summary"]["rps"]["median"] for d in data], color=colors)
    axes[0].set(title="telemetry surge: requests/s", ylabel="req/s")
    axes[1].bar(short, [d["rps_per_gb_pss"] for d in data], color=colors)
    axes[1].set(title="req/s per GB PSS")
    axes[2].bar(short, [d["requests_per_cpu_s"] for d in data], color=colors)
    axes[2].set(title="requests per server CPU-second")
    for ax in axes:
        ax.tick_params(axis="x", rotation=30, labelsize=8)
    return [_save(fig, out / "hotspot.png")]


def ingest(results: dict, out: Path) -> list[str]:
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for kind, rows in results["kinds"].items():
        ax.plot(
            [r["ingesters"] for r in rows],
            [r["readings_per_s"] for r in rows],
            marker="o",
            label=kind,
            color=COLORS[kind],
        )
    ax.set(
        xlabel="ingesters (shared group)",
        ylabel="readings/s stored",
        title="ingest while the API mix runs",
    )
    ax.legend()
    return [_save(fig, out / "ingest.png")]


def gateway(results: dict, out: Path) -> list[str]:
    scripts = list(results["scripts"])
    fig, ax = plt.subplots(figsize=(6, 4.2))
    width = 0.35
    for offset, label, color in (
        (-width / 2, "direct", "tab:green"),
        (width / 2, "gateway", "tab:red"),
    ):
        values = [results["scripts"][s]["summary"][label]["rps"]["median"] for s in scripts]
        ax.bar([i + offset for i in range(len(scripts))], values, width, label=label, color=color)
    ax.set_xticks(range(len(scripts)), scripts)
    ax.set(ylabel="requests/s (median)", title="monolith: direct vs behind nginx")
    ax.legend()
    return [_save(fig, out / "gateway.png")]


def memory(results: dict, out: Path) -> list[str]:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    kinds = list(results["kinds"])
    bars = [("idle", "rss"), ("idle", "pss"), ("load", "rss"), ("load", "pss")]
    width = 0.2
    for j, (state, metric) in enumerate(bars):
        values = [results["kinds"][k][state][f"total_{metric}_mb"] for k in kinds]
        ax.bar(
            [i + (j - 1.5) * width for i in range(len(kinds))],
            values,
            width,
            label=f"{state} {metric.upper()}",
        )
    ax.set_xticks(range(len(kinds)), kinds)
    ax.set(ylabel="MB", title="memory of every process of the topology")
    ax.legend()
    return [_save(fig, out / "memory.png")]


def faults(results: dict, out: Path) -> list[str]:
    fig, ax = plt.subplots(figsize=(8, 4.2))
    kinds = list(results["kinds"])
    phases = ("kills", "broker", "database")
    width = 0.2
    for j, kind in enumerate(kinds):
        for k, (key, hatch) in enumerate(
            (("success_ratio", ""), ("success_ratio_with_retry", "//"))
        ):
            values = [100 * (results["kinds"][kind]["phases"][p][key] or 0) for p in phases]
            xs = [i + (2 * j + k - 1.5) * width for i in range(len(phases))]
            ax.bar(
                xs,
                values,
                width,
                color=COLORS[kind],
                hatch=hatch,
                label=f"{kind} {'with one retry' if k else 'first try'}",
            )
    ax.set_xticks(range(len(phases)), phases)
    ax.set(ylabel="successful requests %", title="steady load under faults")
    ax.set_ylim(bottom=max(0, ax.get_ylim()[0]))
    ax.legend(fontsize=8)
    return [_save(fig, out / "faults.png")]


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


PLOTTERS = {
    "api": api,
    "hotspot": hotspot,
    "ingest": ingest,
    "gateway": gateway,
    "memory": memory,
    "faults": faults,
}


def write_all(results: dict, out: Path) -> list[str]:
    files = []
    for name, plotter in PLOTTERS.items():
        if name in results["scenarios"]:
            files += plotter(results["scenarios"][name], out)
    return files
