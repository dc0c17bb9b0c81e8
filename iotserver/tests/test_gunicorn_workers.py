"""deploy/gunicorn.conf.py's worker: a burst of keep-alive connections is spread over the
workers instead of piling up on one, a connection is closed after its 100th request, and the
master hands the load slots of exited workers to new ones."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[2]

APP = """
import os, time

def app(environ, start_response):
    time.sleep(0.002)  # a little work, so the worker that holds the connection is busy
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    (tmp_path / "pidapp.py").write_text(APP)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "PROMETHEUS_"))}
    env.update(
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
        GUNICORN_THREADS="1",
        GUNICORN_LOG_LEVEL="warning",
        PYTHONPATH=str(tmp_path),
    )
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = (tmp_path / "gunicorn.log").open("w")
    process = subprocess.Popen(
        [str(gunicorn), "--config", "deploy/gunicorn.conf.py", "pidapp:app"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(_pids_of_workers(process.pid)) < 2:
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            assert time.monotonic() < deadline, "gunicorn workers did not start"
            time.sleep(0.1)
        while True:
            try:
                _request(_connect(port))
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.1)
        yield port, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


def _pids_of_workers(master: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return {int(pid) for pid in out.split()}


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _request(sock: socket.socket) -> tuple[int, dict[str, str]]:
    """One GET on a kept-alive connection: (the answering worker's pid, response headers)."""
    sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed before the response")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        body += sock.recv(4096)
    return int(body), headers


def test_a_burst_of_keep_alive_connections_is_spread_over_the_workers(server):
    port, process = server
    smallest_shares = []
    for _ in range(3):
        connections = [_connect(port) for _ in range(32)]
        try:
            owners = [_request(sock)[0] for sock in connections]
            # The connection stays with its worker.
            assert [_request(sock)[0] for sock in connections] == owners
        finally:
            for sock in connections:
                sock.close()
        shares = Counter(owners)
        assert set(shares) <= _pids_of_workers(process.pid)
        smallest_shares.append(min(shares.values()) if len(shares) == 2 else 0)
        time.sleep(0.3)
    # Unbalanced, one worker often takes 25 to 32 of them; balanced, about 16 each.
    assert statistics.median(smallest_shares) >= 10, smallest_shares


def test_a_connection_is_closed_after_its_hundredth_request(server):
    port, _ = server
    sock = _connect(port)
    try:
        for number in range(1, 100):
            _, headers = _request(sock)
            assert headers.get("connection", "keep-alive").lower() != "close", number
        _, headers = _request(sock)
        assert headers["connection"].lower() == "close"
        assert sock.recv(1) == b""  # the server closed its end
    finally:
        sock.close()


def test_slots_go_to_live_workers_and_come_back_when_one_exits():
    sys.path.insert(0, str(REPO / "deploy"))
    try:
        import gunicorn_worker as balanced
    finally:
        sys.path.remove(str(REPO / "deploy"))
    server = SimpleNamespace(WORKERS={})
    first, second, third = (SimpleNamespace() for _ in range(3))
    for pid, worker in ((101, first), (102, second)):
        balanced.claim_slot(server, worker)
        server.WORKERS[pid] = worker
    assert (first.load_slot, second.load_slot) == (0, 1)
    assert balanced.LOADS[0] == balanced.LOADS[1] == 0

    balanced.LOADS[0] = 7  # the first worker holds 7 connections, then dies
    del server.WORKERS[101]
    balanced.release_slot(server, first)
    assert balanced.LOADS[0] == balanced.EMPTY
    balanced.claim_slot(server, third)
    assert third.load_slot == 0 and balanced.LOADS[0] == 0
    for worker in (second, third):
        balanced.release_slot(server, worker)
