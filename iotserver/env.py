"""Typed readers for environment variables that fail loudly, naming the variable.

Settings read every variable through these helpers so that a bad value stops the
process at start with a message such as ``DEBUG: expected a boolean, got 'maybe'``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None:
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: str) -> list[str]:
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: Iterable[str]) -> str:
    allowed = tuple(choices)
    value = os.environ.get(name, default).strip()
    if value not in allowed:
        raise ImproperlyConfigured(f"{name}: expected one of {', '.join(allowed)}, got {value!r}")
    return value


def env_url(name: str, default: str | None, schemes: Iterable[str]) -> str | None:
    """A URL whose scheme must be one of ``schemes``; ``None`` when unset and no default."""
    value = os.environ.get(name, default)
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    allowed = tuple(schemes)
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in allowed:
        raise ImproperlyConfigured(
            f"{name}: expected a URL starting with {' or '.join(s + '://' for s in allowed)}"
        )
    return value


def env_url_list(name: str, schemes: Iterable[str]) -> list[str]:
    """Comma-separated URLs, each checked like ``env_url``; empty when unset."""
    urls = []
    for index, item in enumerate(env_list(name, "")):
        scheme = item.split("://", 1)[0] if "://" in item else ""
        if scheme not in tuple(schemes):
            raise ImproperlyConfigured(
                f"{name}: item {index + 1} is not a URL starting with "
                f"{' or '.join(s + '://' for s in schemes)}"
            )
        urls.append(item)
    return urls


def url_without_userinfo(url: str) -> str:
    """``scheme://user:pass@host:port/...`` -> ``scheme://host:port/...``."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def env_file(name: str) -> str | None:
    """Path of an existing, readable file, or ``None`` when the variable is unset."""
    value = os.environ.get(name)
    if not value:
        return None
    if not os.path.isfile(value) or not os.access(value, os.R_OK):
        raise ImproperlyConfigured(f"{name}: {value!r} is not a readable file")
    return value
