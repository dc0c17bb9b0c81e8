"""Start-up configuration: bad values fail loudly, production settings pass --deploy."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def key_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = folder / "private.pem"
    public = folder / "public.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    for name in (
        "DEBUG",
        "SECRET_KEY",
        "JWT_PRIVATE_KEY_FILE",
        "JWT_PUBLIC_KEY_FILE",
        "IOTSERVER_ROLE",
    ):
        base.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def production_env(key_files, **extra) -> dict:
    private, public = key_files
    return {
        "DEBUG": "0",
        "SECRET_KEY": "p" * 20 + "-Q8s!v2#kLm9Zr4Xw7Yt0Ua6Bc3Df5Gh1Jn8Pq",
        "ALLOWED_HOSTS": "iot.example.com",
        "JWT_PRIVATE_KEY_FILE": str(private),
        "JWT_PUBLIC_KEY_FILE": str(public),
        **extra,
    }


def test_check_deploy_is_clean_with_production_settings(key_files):
    result = manage("check", "--deploy", "--fail-level", "WARNING", **production_env(key_files))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_missing_secret_key_stops_production(key_files):
    env = production_env(key_files)
    env.pop("SECRET_KEY")
    result = manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY: required when DEBUG=0" in result.stderr


def test_auth_role_needs_private_key(key_files):
    env = production_env(key_files, IOTSERVER_ROLE="auth")
    env.pop("JWT_PRIVATE_KEY_FILE")
    result = manage("check", **env)
    assert result.returncode != 0
    assert "JWT_PRIVATE_KEY_FILE" in result.stderr


def test_telemetry_role_starts_with_public_key_only(key_files):
    env = production_env(key_files, IOTSERVER_ROLE="telemetry")
    env.pop("JWT_PRIVATE_KEY_FILE")
    result = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("role", ["telemetry", "auth", "all"])
def test_only_the_roles_with_browser_pages_run_session_and_user_middleware(key_files, role):
    env = production_env(key_files, IOTSERVER_ROLE=role)
    shown = manage(
        "shell", "-c", "from django.conf import settings; print(*settings.MIDDLEWARE)", **env
    )
    assert shown.returncode == 0, shown.stderr
    middleware = {m.rsplit(".", 1)[-1] for m in shown.stdout.split()}
    browser = {"SessionMiddleware", "AuthenticationMiddleware", "MessageMiddleware"}
    assert {"SecurityMiddleware", "CsrfViewMiddleware", "XFrameOptionsMiddleware"} <= middleware
    assert browser & middleware == (set() if role == "telemetry" else browser)


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("DEBUG", "maybe", "DEBUG: expected a boolean"),
        ("IOTSERVER_ROLE", "gateway", "IOTSERVER_ROLE: expected one of all, auth, telemetry"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL: expected a URL"),
        ("JWT_ACCESS_MINUTES", "soon", "JWT_ACCESS_MINUTES: expected an integer"),
        (
            "JWT_PUBLIC_KEY_FILE",
            "/nonexistent.pem",
            "JWT_PUBLIC_KEY_FILE: '/nonexistent.pem' is not a readable file",
        ),
        ("TELEMETRY_BACKEND", "cassandra", "TELEMETRY_BACKEND: expected one of sql, mongo"),
    ],
)
def test_bad_value_names_the_variable(name, value, message):
    result = manage("check", **{name: value})
    assert result.returncode != 0
    assert message in result.stderr
