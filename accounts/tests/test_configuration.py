"""The accounts settings (session lifetime, email) and the gateway's limits on login-like paths."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VARIABLES = (
    "JWT_SESSION_MAX_DAYS",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_USE_TLS",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "DEFAULT_FROM_EMAIL",
    "PASSWORD_RESET_URL",
)


def settings_in_subprocess(*names: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    code = f"from django.conf import settings; print(*(getattr(settings, n) for n in {names!r}))"
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--verbosity", "0", "-c", code],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_defaults_console_email_and_30_day_sessions():
    result = settings_in_subprocess("EMAIL_BACKEND", "JWT_SESSION_MAX_DAYS", "PASSWORD_RESET_URL")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.mail.backends.console.EmailBackend",
        "30",
        "/reset-password",
    ]


def test_email_host_selects_smtp_with_its_settings():
    result = settings_in_subprocess(
        "EMAIL_BACKEND",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "EMAIL_HOST_USER",
        "EMAIL_USE_TLS",
        "DEFAULT_FROM_EMAIL",
        EMAIL_HOST="smtp.example.com",
        EMAIL_PORT="2525",
        EMAIL_HOST_USER="mailer",
        EMAIL_HOST_PASSWORD="s3cret",
        EMAIL_USE_TLS="0",
        DEFAULT_FROM_EMAIL="iot@example.com",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        "2525",
        "mailer",
        "False",
        "iot@example.com",
    ]


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("JWT_SESSION_MAX_DAYS", "0", "JWT_SESSION_MAX_DAYS: must be at least 1"),
        ("EMAIL_PORT", "smtp", "EMAIL_PORT: expected an integer"),
        ("PASSWORD_RESET_URL", "reset", "PASSWORD_RESET_URL: expected a path"),
    ],
)
def test_bad_value_names_the_variable(name, value, message):
    result = settings_in_subprocess("DEBUG", **{name: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_readme_lists_every_variable():
    readme = (ROOT / "README.md").read_text()
    for name in VARIABLES:
        assert f"`{name}`" in readme, name


@pytest.mark.parametrize(
    "path",
    ["/auth/login", "/auth/session/login", "/auth/password-reset", "/auth/password-reset/confirm"],
)
def test_gateway_limits_login_like_paths_per_address(path):
    gateway = (ROOT / "deploy" / "nginx" / "gateway.conf.template").read_text()
    block = re.search(r"location = " + re.escape(path) + r" \{(.*?)\n    \}", gateway, re.S)
    assert block, f"{path} has no exact location in the gateway"
    assert "limit_req zone=login" in block.group(1)
    assert "proxy_pass http://auth;" in block.group(1)
