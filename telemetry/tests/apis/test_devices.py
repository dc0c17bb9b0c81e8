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
    assert device_credentials_list() == [("raspberrypi", "native", stored.mqtt_password_hash)]


def test_create_tells_how_to_connect_without_credentials_in_the_broker_address(
    client_for, settings
):
    settings.MQTT_PUBLIC_URL = "mqtts://iot.example.com:8883"

    body = client_for(user_id=ALICE).post("/devices", {"name": "garage"}, format="json").json()

    assert body["broker"] == "mqtts://iot.example.com:8883"
    assert body["kind"] == "native" and body["enabled"] is True
    assert body["publish"] == ["garage/#"]
    assert body["subscribe"] == ["garage/+/set"]


def test_unknown_kind_is_400_naming_the_field(client_for):
    response = client_for(user_id=ALICE).post(
        "/devices", {"name": "garage", "kind": "toaster"}, format="json"
    )

    assert response.status_code == 400
    assert "kind" in response.json()
    assert not Device.objects.filter(name="garage").exists()


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("tele", "fixed topic level"),
        ("Shellies", "fixed topic level"),
        ("owntracks", "fixed topic level"),
        ("homeassistant", "fixed topic level"),
        ("iotserver-ingest", "broker accounts of iotserver"),
        ("IoTServer", "broker accounts of iotserver"),
    ],
)
def test_reserved_names_are_400_saying_they_are_reserved(client_for, name, why):
    response = client_for(user_id=ALICE).post("/devices", {"name": name}, format="json")

    assert response.status_code == 400
    assert "reserved" in response.json()["detail"] and why in response.json()["detail"]
    assert not Device.objects.filter(name=name).exists()


def test_configured_ingester_accounts_are_reserved_whatever_their_name(client_for, settings):
    settings.MQTT_INTERNAL_USERNAMES = ["collector"]

    response = client_for(user_id=ALICE).post("/devices", {"name": "collector"}, format="json")

    assert response.status_code == 400
    assert "reserved" in response.json()["detail"]


def test_a_deleted_name_goes_back_only_to_its_previous_owner(client_for):
    alice, bob = client_for(user_id=ALICE), client_for(user_id=BOB)
    assert alice.post("/devices", {"name": "garage"}, format="json").status_code == 201
    assert alice.delete("/devices/garage").status_code == 204

    refused = bob.post("/devices", {"name": "garage"}, format="json")

    assert refused.status_code == 409
    assert "deleted device of another account" in refused.json()["detail"]
    assert alice.post("/devices", {"name": "garage"}, format="json").status_code == 201
    assert Device.objects.get(name="garage").owner_id == ALICE
    # Taken back: the tombstone is gone, and a later delete retires it for Alice again.
    assert alice.delete("/devices/garage").status_code == 204
    assert bob.post("/devices", {"name": "garage"}, format="json").status_code == 409


def test_disable_and_enable_a_device(client_for):
    client = client_for(user_id=ALICE)
    client.post("/devices", {"name": "pi"}, format="json")

    response = client.patch("/devices/pi", {"enabled": False}, format="json")

    assert response.status_code == 200 and response.json()["enabled"] is False
    assert device_credentials_list() == []
    assert client.patch("/devices/pi", {"enabled": "maybe"}, format="json").status_code == 400
    client.patch("/devices/pi", {"enabled": True}, format="json")
    assert [name for name, _, _ in device_credentials_list()] == ["pi"]
    assert (
        client_for(user_id=BOB).patch("/devices/pi", {"enabled": False}, format="json").status_code
        == 404
    )


def test_password_reset_gives_a_new_password_once_and_the_old_hash_goes(client_for):
    client = client_for(user_id=ALICE)
    first = client.post("/devices", {"name": "pi"}, format="json").json()["password"]

    response = client.post("/devices/pi/password")

    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "pi" and body["password"] != first
    stored = Device.objects.get(name="pi").mqtt_password_hash
    assert _mosquitto_check(body["password"], stored)
    assert not _mosquitto_check(first, stored)
    assert client.get("/devices/pi/password").status_code == 405
    assert client_for(user_id=BOB).post("/devices/pi/password").status_code == 404


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


def test_time_zone_defaults_to_utc_and_round_trips(client_for):
    client = client_for(user_id=ALICE)

    plain = client.post("/devices", {"name": "pi"}, format="json").json()
    berlin = client.post(
        "/devices", {"name": "garage", "kind": "native", "tz": "Europe/Berlin"}, format="json"
    )

    assert plain["tz"] == "UTC"
    assert berlin.status_code == 201 and berlin.json()["tz"] == "Europe/Berlin"
    assert client.get("/devices/garage").json()["tz"] == "Europe/Berlin"
    assert Device.objects.get(name="garage").tz == "Europe/Berlin"
    listed = {d["name"]: d for d in client.get("/devices").json()}
    assert {k: listed["garage"][k] for k in ("kind", "tz", "online", "last_seen")} == {
        "kind": "native",
        "tz": "Europe/Berlin",
        "online": False,
        "last_seen": None,
    }


@pytest.mark.parametrize(
    "tz", ["Mars/Olympus_Mons", "europe/berlin", "", "../etc/passwd", "+02:00"]
)
def test_unknown_time_zone_is_400_naming_tz(client_for, tz):
    response = client_for(user_id=ALICE).post(
        "/devices", {"name": "garage", "tz": tz}, format="json"
    )

    assert response.status_code == 400
    assert "tz" in response.json()
    assert not Device.objects.filter(name="garage").exists()


def test_patch_changes_the_time_zone_and_refuses_an_unknown_one(client_for):
    client = client_for(user_id=ALICE)
    client.post("/devices", {"name": "pi"}, format="json")

    moved = client.patch("/devices/pi", {"tz": "America/New_York"}, format="json")
    refused = client.patch("/devices/pi", {"tz": "Nowhere/Special"}, format="json")
    empty = client.patch("/devices/pi", {}, format="json")
    both = client.patch("/devices/pi", {"tz": "Asia/Tokyo", "enabled": False}, format="json")

    assert moved.status_code == 200 and moved.json()["tz"] == "America/New_York"
    assert refused.status_code == 400 and "tz" in refused.json()
    assert empty.status_code == 400
    assert both.status_code == 200
    stored = Device.objects.get(name="pi")
    assert (stored.tz, stored.enabled) == ("Asia/Tokyo", False)


def test_the_service_refuses_an_unknown_time_zone_too():
    from django.core.exceptions import ValidationError

    from telemetry.services import device_create, device_update

    with pytest.raises(ValidationError) as refused:
        device_create(owner_id=ALICE, name="pi", tz="Atlantis/Capital")
    device, _ = device_create(owner_id=ALICE, name="pi", tz="Europe/Lisbon")
    with pytest.raises(ValidationError):
        device_update(device=device, tz="UTC+2")

    assert "tz" in refused.value.message_dict
    assert Device.objects.get(name="pi").tz == "Europe/Lisbon"
