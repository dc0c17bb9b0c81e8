"""``python -m iotserver.devrun`` (what ``make run`` starts after migrating).

Brings up the whole system on this machine: the web server on 127.0.0.1:8000, the MQTT
broker at ``MQTT_URL`` or, when none answers on a loopback address, an embedded one, the
ingester, simulated Raspberry Pi and Intel Edison publishers for the demo user's devices,
and a Celery worker and beat when ``REDIS_URL`` is set. Demo and admin passwords are new
at every start and printed once here; nothing else keeps them in clear.
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
from pathlib import Path
from urllib.parse import urlsplit

import django

from iotserver.devrun.supervisor import Child, Supervisor

WEB_ADDR = "127.0.0.1:8000"
DEMO_DEVICES = (("raspberrypi", "raspberrypi"), ("edison", "edison"))


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


def bootstrap_demo() -> dict[str, str]:
    """Demo user, admin and the demo user's devices; returns the fresh passwords."""
    from accounts.services import user_ensure
    from telemetry.services import DeviceNameTaken, device_create

    passwords = {"demo": secrets.token_urlsafe(12), "admin": secrets.token_urlsafe(12)}
    demo = user_ensure(email="demo@example.com", username="demo", password=passwords["demo"])
    user_ensure(
        email="admin@example.com", username="admin", password=passwords["admin"], is_staff=True
    )
    for name, _ in DEMO_DEVICES:
        with contextlib.suppress(DeviceNameTaken):  # registered by an earlier run
            device_create(owner_id=demo.pk, name=name)
    return passwords


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

    python = sys.executable
    bindir = Path(python).parent
    supervisor = Supervisor()
    workdir = Path(tempfile.mkdtemp(prefix="iotserver-run-"))

    url = urlsplit(settings.MQTT_URL)
    host, port = url.hostname or "127.0.0.1", url.port or 1883
    mqtt_env: dict[str, str] = {}
    if broker_answers(host, port):
        broker = f"{host}:{port} (already running)"
    elif is_loopback(host) and url.scheme == "mqtt":
        config = embedded_broker_config(workdir, host, port)
        supervisor.add(Child("broker", [str(bindir / "amqtt"), "-c", str(config)], restart=True))
        # The embedded broker speaks MQTT 3.1.1 only.
        mqtt_env["INGEST_MQTT_PROTOCOL"] = "3.1.1"
        broker = f"{host}:{port} (embedded amqtt, MQTT 3.1.1)"
    else:
        sys.stderr.write(f"MQTT_URL: no broker answers at {host}:{port}\n")
        return 2

    passwords = bootstrap_demo()
    # The console, not a log: the fresh passwords must not reach any log file.
    sys.stdout.write(banner(passwords, broker) + "\n")
    sys.stdout.flush()

    manage = [python, "manage.py"]
    supervisor.add(Child("web", [*manage, "runserver", WEB_ADDR]))
    supervisor.add(Child("ingest", [*manage, "ingest_mqtt"], env=mqtt_env, restart=True))
    for name, kind in DEMO_DEVICES:
        argv = [python, "-m", "sensors", kind, "--name", name, "--broker", settings.MQTT_URL]
        supervisor.add(Child(name, argv, restart=True))
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
