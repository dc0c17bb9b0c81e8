"""docker-compose.yml: valid for each profile, and every service is what an operator expects.

There is no Docker engine here: the compose client validates and resolves the file
(``config``), and the resolved YAML is checked for health checks, restart policies, volumes
and least-privilege secrets.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROFILES = ("monolith", "msa", "mongo")
ONE_SHOT_JOBS = {"migrate", "migrate-auth", "migrate-telemetry"}
EXPECTED = {
    "monolith": {"postgres", "redis", "mosquitto", "migrate", "web", "ingest", "worker", "beat",
                 "gateway"},
    "msa": {"postgres-auth", "postgres-telemetry", "redis", "mosquitto", "migrate-auth",
            "migrate-telemetry", "auth", "telemetry", "ingest-1", "ingest-2", "dashboard",
            "worker-msa", "beat-msa", "gateway-msa"},
    "mongo": {"mongo", "telemetry-mongo", "ingest-mongo", "auth", "dashboard", "gateway-msa",
              "postgres-auth", "postgres-telemetry"},
}  # fmt: skip


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def resolved(profile: str) -> dict:
    command = compose_command()
    if command is None:
        pytest.skip("no docker compose client (apt-get install docker-compose)")
    result = subprocess.run(
        [*command, "--env-file", ".env.example", "--profile", profile, "config"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def in_profile(service: dict, profile: str) -> bool:
    return profile in (service.get("profiles") or [])


@pytest.mark.parametrize("profile", PROFILES)
def test_each_profile_resolves_with_every_service_it_needs(profile):
    services = resolved(profile)["services"]
    active = {name for name, service in services.items() if in_profile(service, profile)}
    assert EXPECTED[profile] <= active, EXPECTED[profile] - active
    for name in active:
        service = services[name]
        if name in ONE_SHOT_JOBS:
            assert service["restart"] == "on-failure", name
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("restart") in ("unless-stopped", "always"), name


@pytest.mark.parametrize("profile", ["msa", "mongo"])
def test_telemetry_services_get_no_private_key(profile):
    services = resolved(profile)["services"]
    for name in ("telemetry", "telemetry-mongo", "ingest-1", "ingest-mongo", "migrate-telemetry"):
        if name not in services or not in_profile(services[name], profile):
            continue
        service = services[name]
        secrets = {s["source"] if isinstance(s, dict) else s for s in service.get("secrets", [])}
        assert secrets == {"jwt_public"}, name
        assert service["environment"]["JWT_PRIVATE_KEY_FILE"] in ("", None), name
        assert service["environment"]["IOTSERVER_ROLE"] == "telemetry", name


def test_data_lives_in_named_volumes():
    services = resolved("mongo")["services"] | resolved("monolith")["services"]
    for name in ("postgres", "postgres-auth", "postgres-telemetry", "redis", "mongo"):
        mounts = services[name]["volumes"]
        assert any(
            (m.get("type") == "volume") if isinstance(m, dict) else not m.startswith((".", "/"))
            for m in mounts
        ), name


def test_no_secret_is_written_into_the_compose_file_or_the_image():
    raw = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    env = raw["x-django-env"]
    for key in ("SECRET_KEY",):
        assert str(env[key]).startswith("${"), key
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key or key.endswith("DATABASE_URL"):
                assert str(value).startswith("${"), f"{name}: {key} must come from .env"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "USER iotserver" in dockerfile
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".env", "*.pem", ".devsecrets"} <= set(ignored)


def test_env_example_lists_every_variable_the_compose_file_reads():
    compose = (REPO / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)[:}-]", compose)) - {"POSTGRES_DB"}
    example = (REPO / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, re.MULTILINE))
    assert used <= listed, sorted(used - listed)
