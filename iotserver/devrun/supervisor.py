"""Runs child processes with prefixed output, restarts the ones allowed to die, stops all.

Each child gets its own process group so a stop reaches its own children (runserver's
autoreloader, Celery's pool) and so the terminal's Ctrl-C reaches only the supervisor,
which then stops every child in order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

COLORS = ["36", "32", "35", "33", "34", "31", "96", "92"]


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    restart: bool = False  # restart with backoff when it exits; otherwise its exit stops all
    proc: subprocess.Popen | None = None
    restarts: int = 0
    next_start: float = 0.0


class Supervisor:
    def __init__(self, *, out=None, stop_timeout: float = 10.0) -> None:
        self.children: list[Child] = []
        self.out = out or sys.stdout
        self.stop_timeout = stop_timeout
        self.stopping = threading.Event()
        self._print_lock = threading.Lock()
        self._colors: dict[str, str] = {"run": "1"} if self.out.isatty() else {}
        self._width = 8

    def add(self, child: Child) -> None:
        self.children.append(child)
        self._width = max(self._width, len(child.name))
        if self._colors:
            self._colors[child.name] = COLORS[(len(self.children) - 1) % len(COLORS)]

    def say(self, name: str, line: str) -> None:
        prefix = f"{name:>{self._width}} |"
        if name in self._colors:
            prefix = f"\033[{self._colors[name]}m{prefix}\033[0m"
        with self._print_lock:
            self.out.write(f"{prefix} {line.rstrip()}\n")
            self.out.flush()

    def _pump(self, child: Child, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.say(child.name, line)

    def start(self, child: Child) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **child.env}
        proc = subprocess.Popen(
            child.argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        child.proc = proc
        threading.Thread(target=self._pump, args=(child, proc), daemon=True).start()
        self.say("run", f"started {child.name} (pid {proc.pid})")

    def run(self) -> int:
        """Start every child and watch them until a stop or an essential child's exit."""
        for child in self.children:
            self.start(child)
        exit_code = 0
        while not self.stopping.wait(0.5):
            exit_code = self._watch()
            if exit_code:
                break
        self.stop()
        return exit_code

    def _watch(self) -> int:
        now = time.monotonic()
        for child in self.children:
            proc = child.proc
            if proc is None:
                if now >= child.next_start:
                    self.start(child)
                continue
            code = proc.poll()
            if code is None:
                continue
            self.say("run", f"{child.name} exited with code {code}")
            if not child.restart:
                self.say("run", f"{child.name} is essential: stopping everything")
                return code or 1
            delay = min(30.0, 2.0 ** min(child.restarts, 5))
            child.restarts += 1
            child.proc = None
            child.next_start = now + delay
            self.say("run", f"restarting {child.name} in {delay:.0f}s (restart #{child.restarts})")
        return 0

    def stop(self) -> None:
        self.stopping.set()
        running = [c for c in self.children if c.proc and c.proc.poll() is None]
        for child in reversed(running):
            self.say("run", f"stopping {child.name}")
            self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in running:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say("run", f"{child.name} did not stop in time: killing it")
                self._signal(child, signal.SIGKILL)
                child.proc.wait()

    @staticmethod
    def _signal(child: Child, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.proc.pid, signum)
