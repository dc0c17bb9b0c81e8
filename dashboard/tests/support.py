"""Constants and helpers shared by the browser tests and their fixtures."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PUBLIC_PAGES = ["/", "/login", "/register"]
RESTRICTED_PAGES = ["/dashboard", "/dashboard/devices", "/dashboard/status"]
PAGES = PUBLIC_PAGES + RESTRICTED_PAGES


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float = 20,
    pump: Callable[[], object] | None = None,
    message: str = "condition",
) -> None:
    """Poll ``predicate``; ``pump`` runs in between (e.g. one ingester step)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pump is not None:
            pump()
        else:
            time.sleep(0.1)
        if predicate():
            return
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")
