"""Cache keys and lifetimes shared by the telemetry write path and its readers."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from django.conf import settings

# Series names may hold any printable character (spaces, non-ASCII): keys carry them
# percent-encoded (``pi.temp`` stays as it is), and a long one as a digest, so every key is
# plain ASCII without spaces and short enough for any cache backend (memcached: 250 bytes).
_MAX_NAME_IN_KEY = 180


def _name(name: str) -> str:
    encoded = quote(name, safe="")
    if len(encoded) <= _MAX_NAME_IN_KEY:
        return encoded
    return "sha256-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()


def latest(topic: str) -> str:
    """The latest reading of a topic and its unit: ``(ts, value, text, unit)``.

    ("latest2": the value gained the unit; entries of the old 3-tuple shape are not read.)
    """
    return f"telemetry:latest2:{_name(topic)}"


def device_owner(name: str) -> str:
    return f"telemetry:device-owner:{name}"


def timeout() -> int:
    return settings.TELEMETRY_CACHE_SECONDS
