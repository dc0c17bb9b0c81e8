"""``python -m iotserver.devrun`` (what ``make run`` starts after migrating).

Brings up the whole system on this machine: the web server on 127.0.0.1:8000; unless
``MQTT_URL`` is set, its own MQTT broker on a free loopback port with authentication on
(the shipped Mosquitto configuration, its accounts kept by ``mqtt_auth_sync --watch``; an
embedded broker, announced as open, where Mosquitto is not installed); the ingester with its
own account, simulated Raspberry Pi and Intel Edison publishers logging in as the demo
user's devices, and a Celery worker and beat when ``REDIS_URL`` is set. Demo, admin and
device passwords are new at every start and printed once here; nothing else keeps them in
clear, and none is passed on a command line.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import django

from iotserver.devrun.supervisor import Child, Supervisor
from iotserver.env import url_without_userinfo

WEB_ADDR = "127.0.0.1:8000"
DEMO_DEVICES = (("raspberrypi", "raspberrypi"), ("edison", "edison"))
INGEST_USER = "iotserver-ingest"


def broker_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def embedded_broker_config(folder: Path, host: str, port: int) -> Path:
    config = folder / "amqtt.yaml"
    config.write_text(
        "listeners:\n"
        "  default:\n"
        "    type: tcp\n"
        f"    bind: {host}:{port}\n"
        "sys_interval: 0\n"
        "auth:\n"
        "  allow-anonymous: true\n"
        "topic-check:\n"
        "  enabled: false\n"
    )
    return config


def with_login(url: str, username: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{parts.netloc}"
    return parts._replace(netloc=netloc).geturl()


@dataclass
class BrokerPlan:
    """The broker side of a ``make run``: children to start, and how each part logs in."""

    url: str  # where clients connect, without credentials
    description: str
    children: list[Child] = field(default_factory=list)
    ingest_env: dict[str, str] = field(default_factory=dict)
    open_broker: bool = False


def plan_own_mosquitto(workdir: Path, binary: str, python: str) -> BrokerPlan:
    """The shipped configuration on a free loopback port, accounts from the registry."""
    from ingest.broker_accounts import AccountFiles, accounts_sync_step
    from ingest.mosquitto import free_port, mosquitto_config_local

    port = free_port()
    files = mosquitto_config_local(folder=workdir / "mosquitto", port=port)
    url = f"mqtt://127.0.0.1:{port}"
    ingest_url = with_login(url, INGEST_USER, secrets.token_urlsafe(18))
    # Written before the broker starts, so the ingester and the devices can log in at once.
    accounts_sync_step(
        files=AccountFiles(files.password_file, files.acl_file, ingest_urls=(ingest_url,))
    )
    sync = [
        python, "manage.py", "mqtt_auth_sync", "--watch",
        "--password-file", str(files.password_file), "--acl-file", str(files.acl_file),
        "--reload-pid-file", str(files.pid_file),
    ]  # fmt: skip
    return BrokerPlan(
        url=url,
        description=f"{url} (Mosquitto, every client logs in; accounts from the registry)",
        children=[
            Child("broker", [binary, "-c", str(files.config)], restart=True),
            Child("accounts", sync, env={"MQTT_INGEST_URLS": ingest_url}, restart=True),
        ],
        ingest_env={"MQTT_URL": ingest_url},
    )


def plan_embedded_broker(workdir: Path, bindir: Path) -> BrokerPlan:
    from ingest.mosquitto import free_port

    port = free_port()
    config = embedded_broker_config(workdir, "127.0.0.1", port)
    url = f"mqtt://127.0.0.1:{port}"
    return BrokerPlan(
        url=url,
        description=(
            f"{url} (embedded amqtt, MQTT 3.1.1)\n"
            "  WARNING: OPEN BROKER. Mosquitto is not installed, so the embedded broker runs\n"
            "  without authentication: anyone who reaches it reads and writes every topic.\n"
            "  Install Mosquitto (apt-get install mosquitto) for device logins and ACLs."
        ),
        children=[Child("broker", [str(bindir / "amqtt"), "-c", str(config)], restart=True)],
        # The embedded broker speaks MQTT 3.1.1 only.
        ingest_env={"INGEST_MQTT_PROTOCOL": "3.1.1"},
        open_broker=True,
    )


def plan_given_broker(url: str) -> BrokerPlan | None:
    """``MQTT_URL`` set by the user: that broker, its accounts managed elsewhere."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 1883
    if not broker_answers(host, port):
        return None
    public = url_without_userinfo(url)
    return BrokerPlan(url=public, description=f"{public} (MQTT_URL, already running)")


def bootstrap_demo() -> tuple[dict[str, str], dict[str, str]]:
    """Demo user, admin and the demo user's devices; returns the fresh user and device
    passwords (the devices' MQTT passwords are new at every start too)."""
    from accounts.services import user_ensure
    from telemetry.selectors import device_get_for_user
    from telemetry.services import DeviceNameTaken, device_create, device_password_reset

    passwords = {"demo": secrets.token_urlsafe(12), "admin": secrets.token_urlsafe(12)}
    demo = user_ensure(email="demo@example.com", username="demo", password=passwords["demo"])
    user_ensure(
        email="admin@example.com", username="admin", password=passwords["admin"], is_staff=True
    )
    devices = {}
    for name, _ in DEMO_DEVICES:
        with contextlib.suppress(DeviceNameTaken):  # registered by an earlier run
            device_create(owner_id=demo.pk, name=name)
        device = device_get_for_user(name=name, user_id=demo.pk, is_staff=False)
        if device is not None:
            devices[name] = device_password_reset(device=device)
    return passwords, devices


def banner(passwords: dict[str, str], broker: str) -> str:
    return "\n".join(
        [
            "",
            "iotserver is starting: open http://127.0.0.1:8000",
            f"  demo user : demo@example.com / {passwords['demo']}",
            f"  admin     : admin@example.com / {passwords['admin']}  (http://127.0.0.1:8000/admin/)",
            f"  broker    : {broker}",
            "  These passwords are new at every start and are shown only here. Ctrl-C stops all.",
            "",
        ]
    )


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iotserver.settings")
    django.setup()
    from django.conf import settings

    from ingest.mosquitto import mosquitto_binary

    python = sys.executable
    bindir = Path(python).parent
    supervisor = Supervisor()
    workdir = Path(tempfile.mkdtemp(prefix="iotserver-run-"))

    # The demo devices first: the broker's first accounts file then already has them.
    passwords, device_passwords = bootstrap_demo()
    if os.environ.get("MQTT_URL"):
        plan = plan_given_broker(settings.MQTT_URL)
        if plan is None:
            sys.stderr.write(f"MQTT_URL: no broker answers at {settings.MQTT_URL!r}\n")
            return 2
    elif binary := mosquitto_binary():
        plan = plan_own_mosquitto(workdir, binary, python)
    else:
        plan = plan_embedded_broker(workdir, bindir)
    # The console, not a log: the fresh passwords must not reach any log file.
    sys.stdout.write(banner(passwords, plan.description) + "\n")
    sys.stdout.flush()
    if not os.environ.get("MQTT_URL"):
        # Every child but the ingester knows only the address: no credentials to leak.
        os.environ.update(MQTT_URL=plan.url, MQTT_PUBLIC_URL=plan.url)

    for child in plan.children:
        supervisor.add(child)
    manage = [python, "manage.py"]
    supervisor.add(Child("web", [*manage, "runserver", WEB_ADDR]))
    supervisor.add(Child("ingest", [*manage, "ingest_mqtt"], env=plan.ingest_env, restart=True))
    for name, kind in DEMO_DEVICES:
        # Their login travels in the environment, never on a command line others can read.
        login = with_login(plan.url, name, device_passwords.get(name, ""))
        argv = [python, "-m", "sensors", kind, "--name", name]
        supervisor.add(Child(name, argv, env={"MQTT_URL": login}, restart=True))
    if settings.REDIS_URL:
        celery = str(bindir / "celery")
        supervisor.add(
            Child("worker", [celery, "-A", "iotserver", "worker", "-l", "INFO", "-c", "2"])
        )
        schedule = str(workdir / "celerybeat-schedule")
        supervisor.add(
            Child("beat", [celery, "-A", "iotserver", "beat", "-l", "INFO", "-s", schedule])
        )

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: supervisor.stopping.set())
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
