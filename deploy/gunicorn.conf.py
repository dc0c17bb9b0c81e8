"""Gunicorn settings for every web role (``deploy/bin/web``), read from the environment.

GUNICORN_BIND              0.0.0.0:8000  address(es) to listen on, comma-separated
GUNICORN_WORKERS           2 x CPUs + 1  worker processes
GUNICORN_THREADS           4             threads per worker (gthread)
GUNICORN_TIMEOUT           30            seconds a request may run before its worker is replaced
GUNICORN_GRACEFUL_TIMEOUT  30            seconds in-flight requests get after SIGTERM
GUNICORN_KEEPALIVE         65            idle keep-alive seconds: longer than the gateway's
                                         upstream keepalive_timeout (60 s), so the gateway
                                         always closes first and never reuses a dying connection
GUNICORN_KEEPALIVE_REQUESTS 100          close a keep-alive connection after this many requests
                                         (0: never), as nginx's keepalive_requests: see below
GUNICORN_MAX_REQUESTS      0             recycle a worker after this many requests (0: never)
GUNICORN_ACCESS_LOG        0             1: a line per request on stdout (the gateway logs them)
GUNICORN_PRELOAD           0             1: import the app once in the master
GUNICORN_LOG_LEVEL         info          gunicorn's own log level
PROMETHEUS_MULTIPROC_DIR   (deploy/bin/web sets a fresh one per instance) where workers keep
                                         their metrics, so /metrics adds up every worker
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from pathlib import Path


def _int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name}: expected an integer, got {raw!r}") from None
    if value < minimum:
        raise SystemExit(f"{name}: must be at least {minimum}, got {value}")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"{name}: expected a boolean (1/0), got {raw!r}")


wsgi_app = "iotserver.wsgi:application"
bind = [b.strip() for b in os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").split(",") if b.strip()]
workers = _int("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1, minimum=1)
threads = _int("GUNICORN_THREADS", 4, minimum=1)
# gthread even with one thread: it keeps the gateway's upstream keep-alive connections open
# (the sync worker closes every connection after one request). Ours spreads new connections
# evenly over the workers (deploy/gunicorn_worker.py).
pythonpath = str(Path(__file__).resolve().parent)
worker_class = "gunicorn_worker.BalancedThreadWorker"
timeout = _int("GUNICORN_TIMEOUT", 30, minimum=1)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30, minimum=1)
keepalive = _int("GUNICORN_KEEPALIVE", 65, minimum=1)
# Keep-alive connections stay with the worker that accepted them. Closing each one after a
# bounded number of requests (as nginx's keepalive_requests does) makes clients reconnect now
# and then, and the balanced accept hands the new connection to the least loaded worker:
# a worker started later (a restart, a crash) gets its share instead of none.
KEEPALIVE_REQUESTS = _int("GUNICORN_KEEPALIVE_REQUESTS", 100)
max_requests = _int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10
preload_app = _bool("GUNICORN_PRELOAD", False)
accesslog = "-" if _bool("GUNICORN_ACCESS_LOG", False) else None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%({x-request-id}i)s"'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
proc_name = f"iotserver-{os.environ.get('IOTSERVER_ROLE', 'all')}"
# Heartbeat files on tmpfs: a container's overlay filesystem can stall them into timeouts.
SHM = "/dev/shm"  # noqa: S108 (gunicorn's documented advice, not a file of ours)
if Path(SHM).is_dir() and os.access(SHM, os.W_OK):
    worker_tmp_dir = SHM
# The gateway is the only client; it sets X-Forwarded-* and Django trusts it (NUM_PROXIES=1,
# SECURE_PROXY_SSL_HEADER). Gunicorn itself need not rewrite anything.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")

PROMETHEUS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def on_starting(server):
    """Start /metrics from zero: files of a previous run's workers would be added in."""
    if PROMETHEUS_DIR:
        path = Path(PROMETHEUS_DIR)
        if path.is_dir():
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)


def on_exit(server):
    if PROMETHEUS_DIR:
        shutil.rmtree(PROMETHEUS_DIR, ignore_errors=True)


def pre_fork(server, worker):
    import gunicorn_worker

    gunicorn_worker.claim_slot(server, worker)


def child_exit(server, worker):
    """Free its balancing slot; keep a dead worker's counters but drop its live gauges."""
    import gunicorn_worker

    gunicorn_worker.release_slot(server, worker)
    if PROMETHEUS_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def pre_request(worker, req):
    """Answer the KEEPALIVE_REQUESTS-th request of a connection with ``Connection: close``."""
    if KEEPALIVE_REQUESTS and req.req_number >= KEEPALIVE_REQUESTS:
        req.must_close = True
