"""``manage.py telemetry_maintenance``: the periodic telemetry work, done once, in-process.

For machines without Redis (no Celery worker): run it from cron, or by hand. It takes the
same locks as the Celery tasks, so it never overlaps with them.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from telemetry import services
from telemetry.storage import StorageError
from telemetry.tasks import task_lock

STEPS = ("rollups", "retention", "liveness")


class Command(BaseCommand):
    help = "Bring rollups up to date, apply retention and mark silent devices offline, once."

    def add_arguments(self, parser):
        parser.add_argument(
            "--only",
            choices=STEPS,
            action="append",
            help="Run only this step (repeatable). Default: all of them.",
        )

    def handle(self, *args, only=None, **options):
        steps = only or list(STEPS)
        try:
            for step in STEPS:
                if step in steps:
                    self._run(step)
        except StorageError as exc:
            raise CommandError(f"telemetry storage failed: {exc}; run again later") from exc

    def _run(self, step: str) -> None:
        lock = {
            "rollups": "rollup_refresh",
            "retention": "retention_enforce",
            "liveness": "device_offline_mark",
        }[step]
        with task_lock(lock) as held:
            if not held:
                self.stdout.write(f"{step}: already running elsewhere, skipped")
                return
            if step == "rollups":
                report = services.rollup_refresh()
                self.stdout.write(f"rollups: {report.windows} windows, {report.topics} topics")
            elif step == "retention":
                r = services.retention_enforce()
                self.stdout.write(
                    f"retention: deleted {r.readings} readings, {r.rollups} rollups, "
                    f"{r.dead_letters} dead letters"
                )
            else:
                names = services.device_offline_mark()
                self.stdout.write(f"liveness: {len(names)} device(s) marked offline")
