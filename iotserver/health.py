"""Liveness and readiness probes.

``/healthz`` answers while the process runs; ``/readyz`` runs a real query against every
dependency this role needs and answers 503 naming the ones that failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import JsonResponse

logger = logging.getLogger(__name__)


def check_database(alias: str) -> Callable[[], None]:
    def check() -> None:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()

    return check


def check_cache() -> None:
    cache.set("readyz", "ok", timeout=5)
    if cache.get("readyz") != "ok":
        raise RuntimeError("cache did not return the value it was given")


def dependency_checks() -> dict[str, Callable[[], None]]:
    checks: dict[str, Callable[[], None]] = {"database": check_database("default")}
    if settings.SERVES_TELEMETRY:
        from telemetry.selectors import storage_check

        if "telemetry" in settings.DATABASES:
            checks["telemetry_database"] = check_database("telemetry")
        if settings.TELEMETRY_BACKEND == "mongo":
            checks["mongo"] = storage_check
    checks["cache"] = check_cache
    return checks


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    results: dict[str, str] = {}
    failed: list[str] = []
    for name, check in dependency_checks().items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure of a dependency makes the process unready
            logger.warning("readyz: %s unavailable: %s", name, exc.__class__.__name__)
            results[name] = f"unavailable: {exc.__class__.__name__}"
            failed.append(name)
    if failed:
        return JsonResponse(
            {
                "status": "unavailable",
                "detail": f"unavailable: {', '.join(failed)}",
                "checks": results,
            },
            status=503,
        )
    return JsonResponse({"status": "ok", "checks": results})
