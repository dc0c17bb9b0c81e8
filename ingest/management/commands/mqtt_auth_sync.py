"""``manage.py mqtt_auth_sync``: write Mosquitto's password_file and acl_file from the device
registry, and optionally make the broker reload them (SIGHUP to its pid file).

Every registered device logs in with its name and may publish only under ``<name>/#``; the
ingester account (the user of ``--ingest-url``, default ``MQTT_URL``) may read everything.
"""

from __future__ import annotations

import base64
import hmac
import logging
import os
import signal
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from telemetry.selectors import device_credentials_list
from telemetry.services import mqtt_password_hash

logger = logging.getLogger(__name__)

HEADER = "# Written by manage.py mqtt_auth_sync from the device registry; edits are overwritten.\n"


def password_file_render(*, credentials: list[tuple[str, str]]) -> str:
    return "".join(f"{username}:{password_hash}\n" for username, password_hash in credentials)


def acl_file_render(*, ingest_username: str, devices: list[str]) -> str:
    lines = [HEADER, f"user {ingest_username}\n", "topic read #\n"]
    for name in devices:
        lines += ["\n", f"user {name}\n", f"topic write {name}/#\n"]
    return "".join(lines)


def _write_if_changed(path: Path, content: str) -> bool:
    """Atomically replace ``path`` (same directory, then rename) when the content differs."""
    if path.exists() and path.read_text() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


class Command(BaseCommand):
    help = "Write Mosquitto password_file and acl_file from the registered devices."

    def add_arguments(self, parser):
        parser.add_argument("--password-file", default=settings.MQTT_PASSWORD_FILE)
        parser.add_argument("--acl-file", default=settings.MQTT_ACL_FILE)
        parser.add_argument(
            "--ingest-url",
            default=settings.MQTT_URL,
            help="URL whose user:password is the ingester's broker account (default MQTT_URL)",
        )
        parser.add_argument("--reload-pid-file", help="send SIGHUP to the broker of this pid file")

    def handle(self, *args, **opts):
        if not opts["password_file"] or not opts["acl_file"]:
            raise CommandError(
                "--password-file and --acl-file are required (or MQTT_PASSWORD_FILE/MQTT_ACL_FILE)"
            )
        parts = urlsplit(opts["ingest_url"])
        if not parts.username or not parts.password:
            raise CommandError("the ingester URL has no user:password; it could not log in")
        ingest_user = unquote(parts.username)
        devices = device_credentials_list()
        if any(name == ingest_user for name, _ in devices):
            raise CommandError(f"a device is named like the ingester account {ingest_user!r}")
        password = unquote(parts.password)
        # A fresh hash has a fresh salt: keep the current line while it still verifies, so an
        # unchanged registry leaves the file (and the broker) alone.
        ingest_hash = _existing_hash(
            Path(opts["password_file"]), ingest_user, password
        ) or mqtt_password_hash(password=password)
        credentials = [(ingest_user, ingest_hash), *devices]
        changed_pw = _write_if_changed(
            Path(opts["password_file"]), password_file_render(credentials=credentials)
        )
        changed_acl = _write_if_changed(
            Path(opts["acl_file"]),
            acl_file_render(ingest_username=ingest_user, devices=[name for name, _ in devices]),
        )
        changed = changed_pw or changed_acl
        logger.info(
            "mqtt_auth_sync: %d devices, files %s",
            len(devices),
            "updated" if changed else "unchanged",
        )
        if opts["reload_pid_file"]:
            self._reload(Path(opts["reload_pid_file"]))
        self.stdout.write(f"{len(devices)} devices; files {'updated' if changed else 'unchanged'}")

    def _reload(self, pid_file: Path) -> None:
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGHUP)
        except (OSError, ValueError) as exc:
            raise CommandError(f"could not signal the broker of {pid_file}: {exc}") from None
        logger.info("mqtt_auth_sync: sent SIGHUP to broker pid %d", pid)


def _existing_hash(path: Path, username: str, password: str) -> str | None:
    """The user's current ``$7$`` line if ``password`` still verifies against it."""
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        name, _, stored = line.partition(":")
        if name != username:
            continue
        try:
            salt = base64.b64decode(stored.split("$")[3], validate=True)
        except (IndexError, ValueError):
            return None
        if hmac.compare_digest(mqtt_password_hash(password=password, salt=salt), stored):
            return stored
    return None
