"""Memory: RSS and PSS of every process of each deployment (the same replicas as the API
scenario), at idle after the data load and at the peak under the API mix.

RSS counts every page a process maps, so gunicorn workers forked from one master count the
pages they share once each; PSS divides each shared page among the processes that map it, so
the PSS of a process tree adds up to what it really occupies. Both are reported.
"""

from __future__ import annotations

import time

from benchmarks.suite import api
from benchmarks.suite.common import (
    MemorySampler,
    Params,
    Progress,
    deployment,
    topology_memory,
    wrk,
)


def steps_total(params: Params) -> int:
    return 4


def run(params: Params, progress: Progress) -> dict:
    out = {"replicas": api.REPLICAS, "connections": params.load_connections, "kinds": {}}
    for kind in ("monolith", "msa"):
        with deployment(params, kind, api.REPLICAS[kind]) as dep:
            time.sleep(2)
            idle = topology_memory(dep.topology)
            progress.step(
                f"memory {kind} idle: PSS {idle['total_pss_mb']:.0f} MB, "
                f"RSS {idle['total_rss_mb']:.0f} MB"
            )
            with MemorySampler(dep.topology, interval=1.0) as sampler:
                result = wrk(
                    params,
                    dep,
                    "mix.lua",
                    connections=params.load_connections,
                    duration=max(params.duration_s, 6),
                )
            load = sampler.peak
            progress.step(
                f"memory {kind} under load ({result['rps']:.0f} req/s): "
                f"PSS {load['total_pss_mb']:.0f} MB"
            )
            out["kinds"][kind] = {"idle": idle, "load": load, "load_rps": result["rps"]}
    return out
