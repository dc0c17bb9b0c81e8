"""System checks of the dashboard: its chart library comes from npm, not from the repository."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.checks import Warning, register


@register()
def uplot_installed(app_configs, **kwargs) -> list[Warning]:
    if settings.IOTSERVER_ROLE != "all":
        return []
    dist = Path(settings.BASE_DIR) / "node_modules" / "uplot" / "dist" / "uPlot.esm.js"
    if dist.is_file():
        return []
    return [
        Warning(
            "The dashboard's chart library (uPlot) is not installed: charts will not load.",
            hint="Run `npm ci` in the project root (or `make install`).",
            id="dashboard.W001",
        )
    ]
