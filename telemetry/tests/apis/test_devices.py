"""/devices and /devices/<name>."""

from __future__ import annotations

import base64
import hashlib

import pytest

from telemetry.models import Device
from telemetry.selectors import device_credentials_list
from telemetry.tests.factories import DeviceFactory

pytestmark = pytest.mark.django_db(databases="__all__")

ALICE, BOB = 1, 2


def _mosquitto_check(password: str, encoded: str) -> bool:
    """Verify a '$7$' hash the way Mosquitto does (PBKDF2-SHA512 over the stored salt)."""
    _, kind, iterations, salt, digest = encoded.split("$")
    computed = hashlib.pbkdf2_hmac(
        "sha512", password.encode(), base64.b64decode(salt), int(iterations)
    )
    return kind == "7" and base64.b64encode(computed).decode() == digest


def test_create_returns_the_mqtt_password_once_and_stores_only_its_hash(client_for):
    client = client_for(user_id=ALICE)

    response = client.post("/devices", {"name": "raspberrypi"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == body["username"] == "raspberrypi"
    assert body["owner_id"] == ALICE
    assert len(body["password"]) >= 24
    stored = Device.objects.get(name="raspberrypi")
    assert body["password"] not in stored.mqtt_password_hash
    assert _mosquitto_check(body["password"], stored.mqtt_password_hash)
    assert len(base64.b64decode(stored.mqtt_password_hash.split("$")[3])) == 12
    assert "password" not in client.get("/devices/raspberrypi").json()
    assert device_credentials_list() == [("raspberrypi", stored.mqtt_password_hash)]


def test_taken_name_is_409_even_for_another_user(client_for):
    client_for(user_id=ALICE).post("/devices", {"name": "pi"}, format="json")

    response = client_for(user_id=BOB).post("/devices", {"name": "pi"}, format="json")

    assert response.status_code == 409
    assert response.json()["detail"]
    assert Device.objects.get(name="pi").owner_id == ALICE


@pytest.mark.parametrize("name", ["", "a.b", "a/b", "x" * 65, "sp ace"])
def test_malformed_name_is_400(client_for, name):
    response = client_for(user_id=ALICE).post("/devices", {"name": name}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()


def test_list_shows_only_own_devices_in_one_query(client_for, telemetry_num_queries):
    DeviceFactory(name="a", owner_id=ALICE)
    DeviceFactory(name="b", owner_id=ALICE)
    DeviceFactory(name="c", owner_id=BOB)
    client = client_for(user_id=ALICE)

    with telemetry_num_queries(1):
        response = client.get("/devices")

    assert [d["name"] for d in response.json()] == ["a", "b"]


def test_staff_list_every_device(client_for):
    DeviceFactory(name="a", owner_id=ALICE)
    DeviceFactory(name="c", owner_id=BOB)

    response = client_for(user_id=99, is_staff=True).get("/devices")

    assert [(d["name"], d["owner_id"]) for d in response.json()] == [("a", ALICE), ("c", BOB)]


def test_other_users_device_is_404_like_a_missing_one(client_for):
    DeviceFactory(name="c", owner_id=BOB)
    client = client_for(user_id=ALICE)

    for method in (client.get, client.delete):
        assert method("/devices/c").status_code == 404
        assert method("/devices/zzz").status_code == 404
    assert Device.objects.filter(name="c").exists()


def test_delete_removes_the_device_and_its_topics_turn_staff_only(client_for):
    from telemetry.services import reading_bulk_append
    from telemetry.tests.factories import readings

    client = client_for(user_id=ALICE)
    client.post("/devices", {"name": "pi"}, format="json")
    reading_bulk_append(readings=readings("pi.temp", 1))
    assert client.get("/iot/pi.temp/latest").status_code == 200

    response = client.delete("/devices/pi")

    assert response.status_code == 204
    assert client.get("/devices/pi").status_code == 404
    assert client.get("/iot/pi.temp/latest").status_code == 404
    assert client_for(user_id=99, is_staff=True).get("/iot/pi.temp/latest").status_code == 200
