"""The shipped Mosquitto configuration (``deploy/mosquitto/mosquitto.conf``) run as a plain
local process: what ``make run``, the benchmark topologies and the tests start.

Only the machine-specific lines change: the listeners move to loopback ports (the TLS one is
dropped unless certificates are given), the auth files, the data folder and a pid file move
into one folder, and the broker keeps the current user (as root, Mosquitto would switch to a
``mosquitto`` user that cannot read that folder). Everything else, authentication and ACLs
included, is exactly what docker compose runs.
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SHIPPED_CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto" / "mosquitto.conf"


@dataclass(frozen=True, slots=True)
class MosquittoFiles:
    """Where a local broker keeps what ``mqtt_auth_sync`` writes and what it writes itself."""

    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / "mosquitto.conf"

    @property
    def password_file(self) -> Path:
        return self.folder / "passwd"

    @property
    def acl_file(self) -> Path:
        return self.folder / "acl"

    @property
    def pid_file(self) -> Path:
        return self.folder / "mosquitto.pid"

    @property
    def data(self) -> Path:
        return self.folder / "data"


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()),
        None,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mosquitto_config_local(
    *,
    folder: Path,
    port: int,
    tls_port: int | None = None,
    certfile: Path | None = None,
    keyfile: Path | None = None,
    persistence: bool = True,
    extra: str = "",
) -> MosquittoFiles:
    """Write the shipped configuration adapted to ``folder`` and loopback ports."""
    files = MosquittoFiles(folder)
    files.data.mkdir(parents=True, exist_ok=True)
    for path in (files.password_file, files.acl_file):
        if not path.exists():
            path.write_text("")
    replace = {
        "password_file": f"password_file {files.password_file}",
        "acl_file": f"acl_file {files.acl_file}",
        "persistence_location": f"persistence_location {files.data}/",
        "persistence": f"persistence {'true' if persistence else 'false'}",
        "certfile": f"certfile {certfile}",
        "keyfile": f"keyfile {keyfile}",
    }
    out, in_tls_block = [], False
    for line in SHIPPED_CONFIG.read_text().splitlines():
        words = line.split()
        key = words[0] if words and not line.startswith("#") else None
        if key == "listener":
            in_tls_block = words[1] == "8883"
            if in_tls_block and tls_port is None:
                continue
            out.append(f"listener {tls_port if in_tls_block else port} 127.0.0.1")
            continue
        if in_tls_block and tls_port is None and key is not None:
            continue
        if not line.strip():
            in_tls_block = False
        out.append(replace.get(key, line) if key else line)
    out += [f"pid_file {files.pid_file}", f"user {getpass.getuser()}", extra]
    files.config.write_text("\n".join(out) + "\n")
    return files


def mosquitto_start(files: MosquittoFiles, *, port: int, log: Path | None = None):
    """Start the broker of ``files`` and wait until it listens on ``port``."""
    binary = mosquitto_binary()
    if binary is None:
        raise FileNotFoundError("mosquitto is not installed")
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (the child keeps it)
    process = subprocess.Popen(
        [binary, "-c", str(files.config)], stdout=out, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited with {process.returncode} ({files.config})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"mosquitto did not listen on port {port}")
