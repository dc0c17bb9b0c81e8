"""docker-compose.yml: valid for each profile, and every service is what an operator expects.

There is no Docker engine here: the compose client validates and resolves the file
(``config``), and the resolved YAML is checked for health checks, restart policies, volumes
and least-privilege secrets.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROFILES = ("monolith", "msa", "mongo")
ONE_SHOT_JOBS = {"migrate", "migrate-auth", "migrate-telemetry"}
EXPECTED = {
    "monolith": {"postgres", "redis", "mosquitto", "migrate", "web", "ingest", "worker", "beat",
                 "gateway", "broker-auth"},
    "msa": {"postgres-auth", "postgres-telemetry", "redis", "mosquitto", "migrate-auth",
            "migrate-telemetry", "auth", "telemetry", "ingest-1", "ingest-2", "dashboard",
            "worker-msa", "beat-msa", "gateway-msa", "broker-auth-msa"},
    "mongo": {"mongo", "telemetry-mongo", "ingest-mongo", "auth", "dashboard", "gateway-msa",
              "postgres-auth", "postgres-telemetry", "broker-auth-mongo"},
}  # fmt: skip
# Each profile's broker accounts: the service keeping them, and the ingesters it lets in.
BROKER_AUTH = {"monolith": "broker-auth", "msa": "broker-auth-msa", "mongo": "broker-auth-mongo"}
INGESTERS = {"monolith": {"ingest"}, "msa": {"ingest-1", "ingest-2"}, "mongo": {"ingest-mongo"}}


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@cache
def _resolved(profile: str) -> str:
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
    return result.stdout


def resolved(profile: str) -> dict:
    """``docker compose --env-file .env.example --profile <profile> config``, parsed."""
    return yaml.safe_load(_resolved(profile))


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


def active_services(profile: str) -> dict[str, dict]:
    services = resolved(profile)["services"]
    return {name: s for name, s in services.items() if in_profile(s, profile)}


def mounts(service: dict) -> list[tuple[str, str, bool]]:
    """(source, target, read-only) of each volume, in either client's output form."""
    out = []
    for mount in service.get("volumes", []):
        if isinstance(mount, dict):
            out.append((mount.get("source", ""), mount["target"], bool(mount.get("read_only"))))
            continue
        source, target, *mode = mount.split(":")
        out.append((source, target, "ro" in (mode[0].split(",") if mode else [])))
    return out


def published_ports(service: dict) -> set[tuple[int, int]]:
    ports = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports.add((int(str(port["published"])), int(str(port["target"]))))
        else:
            published, target = str(port).rsplit(":", 1)
            ports.add((int(published.rsplit(":", 1)[-1]), int(target)))
    return ports


def telemetry_database(env: dict) -> str:
    """The database the telemetry apps (and so the device registry) use with this env."""
    return env.get("TELEMETRY_DATABASE_URL") or env["DATABASE_URL"]


@pytest.mark.parametrize("profile", PROFILES)
def test_each_profile_keeps_the_broker_accounts_in_step_with_its_own_registry(profile):
    services = active_services(profile)
    keeper = services[BROKER_AUTH[profile]]
    env = keeper["environment"]

    assert keeper["command"] == ["deploy/bin/broker-auth"]
    assert keeper["restart"] == "unless-stopped"
    assert ("mosquitto-auth", "/mosquitto/auth", False) in mounts(keeper)
    # The device registry the ingesters of this profile read is the one it writes from.
    for name in INGESTERS[profile]:
        assert telemetry_database(env) == telemetry_database(services[name]["environment"]), name
    # Every ingester account of the profile, and no other.
    urls = set(env["MQTT_INGEST_URLS"].split(","))
    assert urls == {services[name]["environment"]["MQTT_URL"] for name in INGESTERS[profile]}
    # It signs nothing and logs in nowhere.
    secrets = {s["source"] if isinstance(s, dict) else s for s in keeper.get("secrets", [])}
    assert secrets == {"jwt_public"}
    assert env["IOTSERVER_ROLE"] == "telemetry"
    assert "MQTT_URL" not in env
    others = [n for n in services if n.startswith("broker-auth") and n != BROKER_AUTH[profile]]
    assert others == [], "one account keeper per profile"


@pytest.mark.parametrize("profile", PROFILES)
def test_the_broker_reads_the_accounts_read_only_and_reloads_them_itself(profile):
    broker = active_services(profile)["mosquitto"]
    volumes = mounts(broker)

    assert ("mosquitto-auth", "/mosquitto/auth", True) in volumes
    assert any(t == "/mosquitto/certs" and ro for _, t, ro in volumes)
    assert broker["command"][:2] == ["sh", "/mosquitto/config/run.sh"]
    assert "/mosquitto/auth" in broker["command"]
    assert {(1883, 1883), (8883, 8883)} <= published_ports(broker)
    raw = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert raw["volumes"]["mosquitto-auth"]["driver_opts"]["type"] == "tmpfs"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_ingester_logs_in_with_an_account_of_its_own(profile):
    services = active_services(profile)
    users = []
    for name in INGESTERS[profile]:
        env = services[name]["environment"]
        url = urlsplit(env["MQTT_URL"])
        assert url.username and url.password, name
        assert url.username.startswith("iotserver"), name  # internal names, reserved
        # The broker binds client ids to user names: the ingester's id is its user.
        assert env["INGEST_CLIENT_ID"] == url.username, name
        users.append(url.username)
    assert len(users) == len(set(users)), users


@pytest.mark.parametrize("profile", PROFILES)
def test_no_other_service_holds_a_broker_password(profile):
    for name, service in active_services(profile).items():
        env = service.get("environment") or {}
        if name in INGESTERS[profile]:
            continue
        if name != BROKER_AUTH[profile]:
            assert "MQTT_INGEST_URLS" not in env, name
        if "MQTT_URL" in env:
            url = urlsplit(env["MQTT_URL"])
            assert url.username is None and url.password is None, f"{name}: {env['MQTT_URL']}"
        if "IOTSERVER_ROLE" in env and name != BROKER_AUTH[profile]:
            # Django processes: the address without an account, and what devices are told.
            assert "MQTT_URL" in env, name
            public = urlsplit(env["MQTT_PUBLIC_URL"])
            assert public.scheme in ("mqtt", "mqtts") and public.password is None, name


def test_no_password_or_secret_has_a_default_in_the_compose_file():
    compose = (REPO / "docker-compose.yml").read_text()
    found = re.findall(r"\$\{([A-Z0-9_]*(?:PASSWORD|SECRET)[A-Z0-9_]*)([^}]*)\}", compose)
    assert found
    for name, rest in found:
        assert rest.startswith(":?"), f"${{{name}{rest}}} must be required from .env"
    example = (REPO / ".env.example").read_text()
    for name in {n for n, _ in found}:
        assert re.search(rf"^{name}=change-me", example, re.MULTILINE), name
