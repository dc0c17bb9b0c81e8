"""gunicorn's gthread worker with new connections spread evenly over the workers.

Every worker accept()s on the listening socket it inherits from the master, and the worker
that is awake first wins. Under a burst of new connections (a load generator, or a gateway
filling its keep-alive pool) that is usually the worker that is already busy, so keep-alive
connections pile up on one worker (all 32 of 32 in the telemetry benchmark) while another
idles, and the requests on them queue behind each other.

Each worker publishes how many connections it holds in a small array that the master
creates before forking, so every worker shares it. A worker that holds at least two more
connections than its least loaded sibling waits ``ACCEPT_DEFER_SECONDS`` before accepting,
which lets the sibling take the connection. If the sibling does not, the waiting worker
accepts it: no connection is refused, and none waits longer than that.

``deploy/gunicorn.conf.py`` selects the worker and calls ``claim_slot`` / ``release_slot``
from its ``pre_fork`` and ``child_exit`` hooks (both run in the master).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import time

from gunicorn.workers.gthread import ThreadWorker

# Workers beyond this many still serve; they just take no part in the balancing.
SLOTS = 64
ACCEPT_DEFER_SECONDS = 0.001
EMPTY = -1

# Connections held per worker slot; EMPTY where no worker lives. Created at import, in the
# master (which loads the worker class before forking), so the workers share one array.
LOADS = multiprocessing.RawArray(ctypes.c_int, [EMPTY] * SLOTS)


def claim_slot(server, worker) -> None:
    """``pre_fork``: give the worker about to be forked a free slot (or none)."""
    taken = {getattr(w, "load_slot", None) for w in server.WORKERS.values()}
    worker.load_slot = next((i for i in range(SLOTS) if i not in taken), None)
    if worker.load_slot is not None:
        LOADS[worker.load_slot] = 0


def release_slot(server, worker) -> None:
    """``child_exit``: the worker is gone; its slot counts for nothing any more."""
    slot = getattr(worker, "load_slot", None)
    if slot is not None:
        LOADS[slot] = EMPTY


class BalancedThreadWorker(ThreadWorker):
    load_slot: int | None = None

    def _publish(self) -> None:
        if self.load_slot is not None:
            LOADS[self.load_slot] = self.nr_conns

    def a_sibling_holds_fewer(self) -> bool:
        """Does another live worker hold at least two connections fewer than this one?"""
        if self.load_slot is None:
            return False
        below = self.nr_conns - 1
        return any(0 <= LOADS[i] < below for i in range(SLOTS) if i != self.load_slot)

    def accept(self, server, listener):
        if self.a_sibling_holds_fewer():
            time.sleep(ACCEPT_DEFER_SECONDS)  # the sibling, if awake, accepts it meanwhile
        super().accept(server, listener)  # a connection taken meanwhile is EAGAIN: ignored
        self._publish()

    def handle(self, conn):
        # Closed connections are counted down inside gthread; every request republishes.
        self._publish()
        return super().handle(conn)
