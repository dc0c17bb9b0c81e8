"""Broker accounts kept in step with the device registry (Mosquitto password and ACL files).

Every enabled device logs in with its name and the password it was given, and may publish
only into its layout's topics and subscribe only to its own command topics; every ingester
account (``MQTT_INGEST_URLS``) may read every topic. Disabled and deleted devices have no
line at all, so the broker refuses them and, when it reloads the files, disconnects them.
The files are the whole truth: a broker that restarts reads them again, so nothing that
changed while it was down is lost. ``manage.py mqtt_auth_sync --watch`` runs ``accounts_sync``
every second and makes the broker reload (SIGHUP) when a file changed.

Why files rather than Mosquitto's dynamic security plugin: the registry keeps only password
hashes, and the plugin's control API of Mosquitto 2.0 takes passwords in clear, so it could
neither be rebuilt from the registry nor take a device created while the broker is down.
"""

from __future__ import annotations

import base64
import functools
import hmac
import logging
import os
import re
import signal
import tempfile
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.db import DatabaseError, close_old_connections

from telemetry.layouts import device_topics
from telemetry.selectors import device_credentials_list
from telemetry.services import mqtt_password_hash

logger = logging.getLogger(__name__)

HEADER = "# Written by manage.py mqtt_auth_sync from the device registry; edits are overwritten.\n"
# Mosquitto's password file is "user:hash" per line and its ACL file is whitespace-separated.
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.@+-]{1,64}")


class BrokerAccountsError(Exception):
    """The accounts cannot be written as asked (a malformed internal account)."""


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    username: str
    password_hash: str
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SyncResult:
    devices: int
    changed: bool
    skipped: tuple[str, ...] = ()


def ingest_accounts(*, urls: Sequence[str], password_file: Path) -> list[BrokerAccount]:
    """One account per URL's ``user:password``, allowed to read every topic.

    A fresh hash has a fresh salt: the current line is kept while the password still
    verifies against it, so an unchanged configuration leaves the file alone.
    """
    accounts: dict[str, BrokerAccount] = {}
    for url in urls:
        parts = urlsplit(url)
        if not parts.username or not parts.password:
            raise BrokerAccountsError(
                f"the ingester URL for {parts.hostname}:{parts.port or ''} has no user:password"
            )
        username, password = unquote(parts.username), unquote(parts.password)
        if not USERNAME_PATTERN.fullmatch(username):
            raise BrokerAccountsError(f"ingester user name {username!r} is not a plain name")
        stored = _existing_hash(password_file, username, password)
        accounts[username] = BrokerAccount(
            username=username,
            password_hash=stored or mqtt_password_hash(password=password),
            subscribe=("#",),
        )
    return list(accounts.values())


def device_accounts() -> list[BrokerAccount]:
    """Every enabled device of the registry, with its layout's topics."""
    accounts = []
    for name, kind, password_hash in device_credentials_list():
        publish, subscribe = device_topics(kind=kind, name=name)
        accounts.append(BrokerAccount(name, password_hash, tuple(publish), tuple(subscribe)))
    return accounts


def password_file_render(*, accounts: Iterable[BrokerAccount]) -> str:
    return "".join(f"{a.username}:{a.password_hash}\n" for a in accounts)


def acl_file_render(*, accounts: Iterable[BrokerAccount]) -> str:
    """Mosquitto's acl_file: ``read`` covers subscribing and receiving, ``write`` publishing."""
    lines = [HEADER]
    for account in accounts:
        lines += ["\n", f"user {account.username}\n"]
        lines += [f"topic write {topic}\n" for topic in account.publish]
        lines += [f"topic read {topic}\n" for topic in account.subscribe]
    return "".join(lines)


def accounts_sync(*, password_file: Path, acl_file: Path, ingest_urls: Sequence[str]) -> SyncResult:
    """Write both files from the registry; ``changed`` when either differs from before.

    A device named like an internal account is left out (and reported), never given the
    internal account's rights.
    """
    internal = ingest_accounts(urls=ingest_urls, password_file=password_file)
    names = {a.username for a in internal}
    devices, skipped = [], []
    for account in device_accounts():
        (skipped if account.username in names else devices).append(account)
    for account in skipped:
        logger.error(
            "device %s is named like an internal broker account: left out", account.username
        )
    accounts = [*internal, *devices]
    changed_pw = _write_if_changed(password_file, password_file_render(accounts=accounts))
    changed_acl = _write_if_changed(acl_file, acl_file_render(accounts=accounts))
    return SyncResult(
        devices=len(devices),
        changed=changed_pw or changed_acl,
        skipped=tuple(a.username for a in skipped),
    )


@dataclass(frozen=True, slots=True)
class AccountFiles:
    password_file: Path
    acl_file: Path
    ingest_urls: tuple[str, ...]
    pid_file: Path | None = None  # the broker to make reload after a change


def accounts_sync_step(*, files: AccountFiles, reload_always: bool = False) -> SyncResult:
    """One pass: write the files from the registry, and make the broker reload on a change."""
    result = accounts_sync(
        password_file=files.password_file,
        acl_file=files.acl_file,
        ingest_urls=files.ingest_urls,
    )
    if result.changed:
        logger.info("broker accounts: %d devices, files updated", result.devices)
    if files.pid_file and (result.changed or reload_always):
        broker_reload(pid_file=files.pid_file)
    return result


def accounts_watch(*, files: AccountFiles, interval: float, stop: threading.Event) -> None:
    """Keep the files in step with the registry until ``stop`` is set.

    The first pass always makes the broker reload (it may have started with older files);
    an unreachable registry leaves the files as they are and is tried again next time.
    """
    first = True
    while not stop.is_set():
        try:
            accounts_sync_step(files=files, reload_always=first)
            first = False
        except DatabaseError:
            logger.warning("broker accounts: registry unreachable", exc_info=True)
        close_old_connections()
        stop.wait(interval)


def broker_reload(*, pid_file: Path) -> bool:
    """SIGHUP to the broker of ``pid_file``: it re-reads both files and disconnects clients
    it no longer accepts. ``False`` (logged) when no broker runs there: a broker that starts
    later reads the files anyway."""
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        logger.warning("could not make the broker of %s reload: %s", pid_file, exc)
        return False
    logger.info("broker pid %d reloads its accounts", pid)
    return True


def _write_if_changed(path: Path, content: str) -> bool:
    """Atomically replace ``path`` (same directory, then rename) when the content differs."""
    if path.exists() and path.read_text() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        # The broker may run as another user (its own container, or Mosquitto dropping root):
        # readable, as the folder it lives in decides who gets that far.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def _existing_hash(path: Path, username: str, password: str) -> str | None:
    """The user's current ``$7$`` hash if ``password`` still verifies against it."""
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        name, _, stored = line.partition(":")
        if name == username:
            return stored if _verifies(password, stored) else None
    return None


@functools.lru_cache(maxsize=64)
def _verifies(password: str, stored: str) -> bool:
    """PBKDF2 once per (password, hash), not on every pass of the once-a-second loop."""
    try:
        salt = base64.b64decode(stored.split("$")[3], validate=True)
    except (IndexError, ValueError):
        return False
    return hmac.compare_digest(mqtt_password_hash(password=password, salt=salt), stored)
