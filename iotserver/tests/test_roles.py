"""IOTSERVER_ROLE: each role serves, documents and needs only its own part of the system.

Settings and URLs are fixed at import, so every case runs Django in a subprocess with that
role's environment (production mode: DEBUG=0, real key files, nothing generated).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json
import django
django.setup()
from django.urls import Resolver404, resolve
from drf_spectacular.generators import SchemaGenerator

def routed(path):
    try:
        resolve(path)
        return True
    except Resolver404:
        return False

paths = sorted(SchemaGenerator().get_schema(request=None, public=True)["paths"])
candidates = ["/auth/login", "/auth/register", "/users", "/.well-known/jwks.json", "/admin/",
              "/iot", "/iot/a.b/latest", "/devices", "/", "/dashboard", "/healthz", "/readyz",
              "/metrics", "/api/schema", "/api/docs"]
print(json.dumps({"paths": paths, "routes": {p: routed(p) for p in candidates}}))
"""

REQUESTS = """
import json, sys
import django
django.setup()
from django.test import Client
client = Client()
token = sys.argv[1]
answers = {
    "readyz": client.get("/readyz").status_code,
    "iot": client.get("/iot", HTTP_AUTHORIZATION=f"Bearer {token}").status_code,
    "devices": client.post("/devices", {"name": "probe"}, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {token}").status_code,
    "login": client.post("/auth/login", {"email": "a@b.c", "password": "x"},
                         content_type="application/json").status_code,
}
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("keys")
    private, public = folder / "private.pem", folder / "public.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
         "-out", str(private)],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        ["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)],
        check=True,
        capture_output=True,
    )
    return private, public


def role_env(role: str, keys: tuple[Path, Path], database: Path, **extra: str) -> dict[str, str]:
    private, public = keys
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JWT_", "DATABASE_URL", "TELEMETRY_", "IOTSERVER_", "MONGO_"))
    }
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "DJANGO_SETTINGS_MODULE": "iotserver.settings",
            "DEBUG": "0",
            "SECRET_KEY": "role-test-secret-key-" + "x" * 40,
            "ALLOWED_HOSTS": "testserver,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "IOTSERVER_ROLE": role,
            "DATABASE_URL": f"sqlite:///{database}",
            "JWT_PUBLIC_KEY_FILE": str(public),
        }
    )
    if role != "telemetry":
        env["JWT_PRIVATE_KEY_FILE"] = str(private)
    env.update(extra)
    return env


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def probe(role: str, keys, tmp_path: Path) -> dict:
    result = run([sys.executable, "-c", PROBE], role_env(role, keys, tmp_path / "db.sqlite3"))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _is_auth(path: str) -> bool:
    return path.startswith(("/auth", "/users", "/.well-known", "/admin"))


def _is_telemetry(path: str) -> bool:
    return path.startswith(("/iot", "/devices"))


def test_auth_role_serves_and_documents_only_auth(key_pair, tmp_path):
    answer = probe("auth", key_pair, tmp_path)
    assert "/auth/login" in answer["paths"]
    assert "/.well-known/jwks.json" in answer["paths"]
    assert not [p for p in answer["paths"] if _is_telemetry(p)]
    routes = answer["routes"]
    assert routes["/auth/login"] and routes["/users"] and routes["/admin/"]
    assert not routes["/iot"] and not routes["/iot/a.b/latest"] and not routes["/devices"]
    assert not routes["/"] and not routes["/dashboard"]
    assert routes["/healthz"] and routes["/readyz"] and routes["/metrics"]


def test_telemetry_role_serves_and_documents_only_telemetry(key_pair, tmp_path):
    answer = probe("telemetry", key_pair, tmp_path)
    assert "/iot" in answer["paths"] and "/devices" in answer["paths"]
    assert not [p for p in answer["paths"] if _is_auth(p)]
    routes = answer["routes"]
    assert routes["/iot"] and routes["/iot/a.b/latest"] and routes["/devices"]
    assert not routes["/auth/login"] and not routes["/users"] and not routes["/admin/"]
    assert not routes["/.well-known/jwks.json"]
    assert not routes["/"] and not routes["/dashboard"]
    assert routes["/api/schema"] and routes["/api/docs"] and routes["/metrics"]


def test_all_role_serves_everything(key_pair, tmp_path):
    answer = probe("all", key_pair, tmp_path)
    assert [p for p in answer["paths"] if _is_auth(p)]
    assert [p for p in answer["paths"] if _is_telemetry(p)]
    assert all(answer["routes"].values()), answer["routes"]


def _access_token(private: Path, *, user_id: int) -> str:
    now = datetime.now(UTC)
    claims = {
        "token_type": "access",
        "user_id": user_id,
        "is_staff": False,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "iss": "iotserver",
        "aud": "iotserver",
    }
    return jwt.encode(claims, private.read_text(), algorithm="RS256")


def _tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


def test_telemetry_role_runs_on_telemetry_tables_and_the_public_key_alone(key_pair, tmp_path):
    database = tmp_path / "telemetry.sqlite3"
    env = role_env("telemetry", key_pair, database)
    assert "JWT_PRIVATE_KEY_FILE" not in env
    migrated = run([str(REPO / "deploy" / "bin" / "migrate")], env)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    tables = _tables(database)
    assert "telemetry_reading" in tables
    assert not [t for t in tables if t.startswith(("accounts_", "auth_", "django_session"))]

    token = _access_token(key_pair[0], user_id=7)
    result = run([sys.executable, "-c", REQUESTS, token], env)
    assert result.returncode == 0, result.stderr[-3000:]
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert answers == {"readyz": 200, "iot": 200, "devices": 201, "login": 404}


def test_auth_role_migrates_no_telemetry_tables(key_pair, tmp_path):
    database = tmp_path / "users.sqlite3"
    migrated = run([str(REPO / "deploy" / "bin" / "migrate")], role_env("auth", key_pair, database))
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    tables = _tables(database)
    assert "accounts_user" in tables
    assert not [t for t in tables if t.startswith("telemetry_")]


@pytest.mark.parametrize("role", ["auth", "all"])
def test_signing_roles_refuse_to_start_without_the_private_key(key_pair, tmp_path, role):
    env = role_env(role, key_pair, tmp_path / "db.sqlite3")
    del env["JWT_PRIVATE_KEY_FILE"]
    result = run([sys.executable, "manage.py", "check"], env)
    assert result.returncode != 0
    assert "JWT_PRIVATE_KEY_FILE" in result.stderr
