"""Routes the telemetry and ingest apps to the ``telemetry`` database when one is configured.

It lives in the telemetry app, which owns that database, so the apps never import the
``iotserver`` project package (DESIGN.md); settings name it in ``DATABASE_ROUTERS``.
"""

from __future__ import annotations

from django.conf import settings

TELEMETRY_APPS = {"telemetry", "ingest"}


def telemetry_alias() -> str:
    return "telemetry" if "telemetry" in settings.DATABASES else "default"


class TelemetryRouter:
    """Telemetry and ingest models use ``TELEMETRY_DATABASE_URL``; the rest ``DATABASE_URL``."""

    def db_for_read(self, model, **hints):
        if model._meta.app_label in TELEMETRY_APPS:
            return telemetry_alias()
        return "default"

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return (obj1._meta.app_label in TELEMETRY_APPS) == (obj2._meta.app_label in TELEMETRY_APPS)

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if telemetry_alias() == "default":
            return True
        if app_label in TELEMETRY_APPS:
            return db == "telemetry"
        return db == "default"
