"""``manage.py mqtt_auth_sync``: write Mosquitto's password_file and acl_file from the device
registry (``ingest.broker_accounts``) and make the broker reload them.

Once by default; with ``--watch`` it keeps them in step, checking the registry every
``MQTT_AUTH_SYNC_INTERVAL_SECONDS``: a device created, disabled or deleted reaches the broker
within that time plus the broker's reload. This is the one process that owns the broker's
accounts in every deployment (``make run``, docker compose, the benchmark topologies).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ingest.broker_accounts import (
    AccountFiles,
    BrokerAccountsError,
    accounts_sync_step,
    accounts_watch,
)

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Write Mosquitto's password and ACL files from the registry (--watch: keep in step)."

    def add_arguments(self, parser):
        parser.add_argument("--password-file", default=settings.MQTT_PASSWORD_FILE)
        parser.add_argument("--acl-file", default=settings.MQTT_ACL_FILE)
        parser.add_argument(
            "--ingest-url",
            action="append",
            dest="ingest_urls",
            help="an ingester's mqtt://user:password@... (repeatable; default MQTT_INGEST_URLS)",
        )
        parser.add_argument(
            "--reload-pid-file",
            default=settings.MQTT_BROKER_PID_FILE,
            help="send SIGHUP to the broker of this pid file after a change",
        )
        parser.add_argument("--watch", action="store_true", help="keep the files in step")
        parser.add_argument(
            "--interval", type=float, default=settings.MQTT_AUTH_SYNC_INTERVAL_SECONDS
        )

    def handle(self, *args, **opts):
        if not opts["password_file"] or not opts["acl_file"]:
            raise CommandError(
                "--password-file and --acl-file are required (or MQTT_PASSWORD_FILE/MQTT_ACL_FILE)"
            )
        pid_file = opts["reload_pid_file"]
        files = AccountFiles(
            password_file=Path(opts["password_file"]),
            acl_file=Path(opts["acl_file"]),
            ingest_urls=tuple(opts["ingest_urls"] or settings.MQTT_INGEST_URLS),
            pid_file=Path(pid_file) if pid_file else None,
        )
        try:
            # Also the first pass of --watch: a malformed internal account stops it here.
            result = accounts_sync_step(files=files, reload_always=True)
        except BrokerAccountsError as exc:
            raise CommandError(str(exc)) from None
        changed = "updated" if result.changed else "unchanged"
        self.stdout.write(f"{result.devices} devices; files {changed}")
        if not opts["watch"]:
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        logger.info("mqtt_auth_sync: keeping the broker's accounts in step with the registry")
        accounts_watch(files=files, interval=opts["interval"], stop=stop)
        logger.info("mqtt_auth_sync: stopped")
