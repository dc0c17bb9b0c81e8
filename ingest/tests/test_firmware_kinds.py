"""Each device kind end to end: a device registered with that kind logs in to the shipped
broker configuration with its own credentials, publishes what its firmware publishes (payloads
from the firmware's own documentation, cited in ``test_formats.py`` and below), and the
readings, units and availability come back through the HTTP API."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from ingest.consumer import IngestOptions, MqttIngester
from ingest.tests.conftest import unique, wait_until
from ingest.tests.test_broker_auth import REGISTRY_TO_BROKER_SECONDS, Session, accepted_within
from sensors.sparkplug import Metric, payload_encode
from telemetry.services import device_create

pytestmark = [pytest.mark.mqtt, pytest.mark.django_db(transaction=True)]

OWNER = 41


@pytest.fixture
def secured(tmp_path):
    from ingest.tests.test_broker_auth import SecuredBroker

    broker = SecuredBroker(tmp_path)
    yield broker
    broker.close()


def ingester_for(secured, *, client_id: str | None = None) -> MqttIngester:
    options = IngestOptions(
        broker_url=secured.ingest_url,
        client_id=client_id or secured.ingest_user,
        batch_size=200,
        max_wait=0.05,
        writers=0,
    )
    ingester = MqttIngester(options=options, stop_event=threading.Event())
    ingester.start()
    assert ingester.connected.wait(10), ingester.fatal
    return ingester


def run_until(ingester: MqttIngester, predicate, *, seconds: float = 8.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ingester.step(timeout=0.1)
        if predicate():
            return
    raise AssertionError(f"not done in {seconds}s: {ingester.stats.summary()}")


def device_session(secured, *, kind: str, tz: str = "UTC", prefix: str | None = None):
    device, password = device_create(
        owner_id=OWNER, name=unique(prefix or kind[:4]), kind=kind, tz=tz
    )
    session = accepted_within(
        secured.port, device.name, password, seconds=REGISTRY_TO_BROKER_SECONDS
    )
    return device.name, session


def latest(client, series: str) -> dict:
    response = client.get(f"/iot/{quote(series, safe='')}/latest")
    assert response.status_code == 200, (series, response.status_code, response.content[:200])
    return response.json()


def test_tasmota_sensor_local_time_units_and_last_will(secured, client_for):
    name, session = device_session(secured, kind="tasmota", tz="Europe/Berlin")
    ingester = ingester_for(secured)
    api = client_for(user_id=OWNER)
    try:
        # https://tasmota.github.io/docs/BME280/ (tele/<topic>/SENSOR) and /docs/MQTT/ (LWT)
        session.publish(f"tele/{name}/LWT", "Online")
        session.publish(
            f"tele/{name}/SENSOR",
            '{"Time":"2019-11-03T19:34:28","BME280":{"Temperature":21.7,"Humidity":66.6,'
            '"DewPoint":15.1,"Pressure":988.6},"PressureUnit":"hPa","TempUnit":"C"}',
        )
        session.publish(f"stat/{name}/POWER", "ON")
        run_until(ingester, lambda: ingester.stats.totals["stored"] >= 5)
        assert api.get(f"/devices/{name}").json()["online"] is True
        session.publish(f"tele/{name}/LWT", "Offline")
        run_until(
            ingester,
            lambda: ingester.stats.totals["availability"] >= 2
            or not api.get(f"/devices/{name}").json()["online"],
        )
    finally:
        session.close()
        ingester.close()

    temperature = latest(api, f"{name}.BME280.Temperature")
    # 19:34:28 in Berlin in November (CET, UTC+1)
    assert temperature["data"] == [{"date": "2019-11-03T18:34:28+00:00", "value": 21.7}]
    assert temperature["unit"] == "°C"
    assert latest(api, f"{name}.BME280.Pressure")["unit"] == "hPa"
    assert latest(api, f"{name}.POWER")["data"][0]["value"] == 1.0
    assert api.get(f"/devices/{name}").json()["online"] is False
    assert all(not t["topic"].endswith("LWT") for t in api.get("/iot").json()["data"])


def test_esphome_zigbee2mqtt_shelly_and_owntracks_through_the_broker(secured, client_for):
    esp, esp_session = device_session(secured, kind="esphome")
    zb, zb_session = device_session(secured, kind="zigbee2mqtt")
    sh, sh_session = device_session(secured, kind="shelly")
    ot, ot_session = device_session(secured, kind="owntracks")
    ingester = ingester_for(secured)
    api = client_for(user_id=OWNER)
    try:
        # https://esphome.io/components/mqtt.html
        esp_session.publish(f"{esp}/status", "online")
        esp_session.publish(f"{esp}/binary_sensor/motion/state", "ON")
        esp_session.publish(f"{esp}/sensor/temperature/state", "23.4")
        # https://www.zigbee2mqtt.io/guide/usage/mqtt_topics_and_messages.html
        zb_session.publish(f"{zb}/bridge/state", '{"state":"online"}')
        zb_session.publish(f"{zb}/living room/sensor", '{"temperature":23.4,"occupancy":true}')
        zb_session.publish(f"{zb}/bridge/devices", "[]")
        # https://shelly-api-docs.shelly.cloud/gen2/General/Notifications#notifystatus
        sh_session.publish(
            f"{sh}/events/rpc",
            '{"src":"x","dst":"x/events","method":"NotifyStatus",'
            '"params":{"ts":1631266595.43,"switch:0":{"id":0,"output":true}}}',
        )
        sh_session.publish(f"shellies/{sh}/relay/0", "on")
        # https://owntracks.org/booklet/tech/json/#_typelocation
        ot_session.publish(
            f"owntracks/{ot}/phone",
            '{"_type":"location","tid":"JJ","lat":51.5007,"lon":-0.1246,"tst":1584350135,'
            '"acc":5,"batt":87}',
        )
        run_until(ingester, lambda: ingester.stats.totals["stored"] >= 11)
    finally:
        for session in (esp_session, zb_session, sh_session, ot_session):
            session.close()
        ingester.close()

    assert latest(api, f"{esp}.binary_sensor.motion")["data"][0]["value"] == 1.0
    assert latest(api, f"{esp}.sensor.temperature")["data"][0]["value"] == 23.4
    assert latest(api, f"{zb}.living room.sensor.occupancy")["data"][0]["value"] == 1.0
    shelly = latest(api, f"{sh}.switch:0.output")["data"][0]
    assert shelly == {"date": "2021-09-10T09:36:35.430000+00:00", "value": 1.0}
    assert latest(api, f"{sh}.relay.0")["data"][0]["value"] == 1.0
    location = latest(api, f"{ot}.phone.lat")["data"][0]
    assert location == {"date": "2020-03-16T09:15:35+00:00", "value": 51.5007}
    assert api.get(f"/devices/{esp}").json()["online"] is True
    assert api.get(f"/devices/{zb}").json()["online"] is True
    assert ingester.stats.totals["dead_lettered"] == 0


def test_sparkplug_births_then_data_by_alias_unknown_alias_and_death(secured, client_for):
    node, session = device_session(secured, kind="sparkplug", prefix="edge")
    ingester = ingester_for(secured)
    api = client_for(user_id=OWNER)
    at = 1_700_000_000_000
    birth = payload_encode(
        timestamp_ms=at,
        seq=0,
        metrics=[
            Metric("bdSeq", None, "UInt64", 0),
            Metric("Node Control/Rebirth", None, "Boolean", False),
            Metric("Sensors/Temperature", 1, "Double", 20.5),
        ],
    )
    data = payload_encode(timestamp_ms=at + 1000, seq=1, metrics=[Metric(None, 1, "Double", 21.25)])
    unknown = payload_encode(
        timestamp_ms=at + 2000, seq=2, metrics=[Metric(None, 9, "Double", 1.0)]
    )
    death = payload_encode(
        timestamp_ms=at + 3000, seq=None, metrics=[Metric("bdSeq", None, "UInt64", 0)]
    )
    try:
        for kind, payload in (("NBIRTH", birth), ("NDATA", data), ("NDATA", unknown)):
            info = session.client.publish(f"spBv1.0/plant/{kind}/{node}", payload, qos=1)
            info.wait_for_publish(timeout=10)
        run_until(ingester, lambda: ingester.stats.totals["dead_lettered"] >= 1)
        assert api.get(f"/devices/{node}").json()["online"] is True
        session.client.publish(f"spBv1.0/plant/NDEATH/{node}", death, qos=1).wait_for_publish(10)
        run_until(ingester, lambda: api.get(f"/devices/{node}").json()["online"] is False)
    finally:
        session.close()
        ingester.close()

    got = api.get(f"/iot/{quote(node + '.Sensors.Temperature', safe='')}/readings?order=asc")
    assert got.status_code == 200
    assert [(r["date"], r["value"]) for r in got.json()["data"]] == [
        ("2023-11-14T22:13:20+00:00", 20.5),
        ("2023-11-14T22:13:21+00:00", 21.25),
    ]
    assert ingester.stats.totals["dead_lettered"] == 1


@pytest.mark.parametrize(
    ("kind", "foreign"),
    [
        ("tasmota", "{name}/temp"),  # a native topic
        ("native", "tele/{name}/SENSOR"),  # a Tasmota topic
        ("esphome", "shellies/{name}/relay/0"),
        ("owntracks", "{name}/sensor/x/state"),
        ("sparkplug", "owntracks/{name}/phone"),
    ],
)
def test_a_device_of_one_kind_cannot_publish_another_kinds_topics(secured, kind, foreign):
    name, session = device_session(secured, kind=kind)
    watcher = Session(secured.port, secured.ingest_user, secured.ingest_password)
    try:
        watcher.subscribe("#")
        session.client.publish(foreign.format(name=name), "1", qos=1).wait_for_publish(10)
        own = {
            "tasmota": f"tele/{name}/STATE",
            "native": f"{name}/temp",
            "esphome": f"{name}/sensor/x/state",
            "owntracks": f"owntracks/{name}/phone",
            "sparkplug": f"spBv1.0/g/NDATA/{name}",
        }[kind]
        session.publish(own, "2")  # broker order: after the refused one
        assert wait_until(lambda: watcher.received, timeout=5)
        time.sleep(0.3)
    finally:
        session.close()
        watcher.close()
    assert [topic for topic, _ in watcher.received] == [own]


def test_a_retained_state_replayed_across_three_ingester_restarts_is_one_reading(
    secured, client_for
):
    name, session = device_session(secured, kind="esphome")
    api = client_for(user_id=OWNER)
    # ESPHome retains every state by default (https://esphome.io/components/mqtt.html, retain)
    info = session.client.publish(f"{name}/sensor/temperature/state", "21.5", qos=1, retain=True)
    info.wait_for_publish(timeout=10)
    session.close()
    series = f"{name}.sensor.temperature"
    # The first ingester finds it retained; the next three subscribe again: the same client id
    # (its persistent session: MQTT 5 Retain Handling keeps the broker from replaying) and
    # two new client ids (new subscriptions: the broker replays, the ingester must not store).
    for client_id in ("ing-first", "ing-first", "ing-second", "ing-third"):
        ingester = ingester_for(secured, client_id=client_id)
        try:
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                ingester.step(timeout=0.1)
        finally:
            ingester.close()
        if client_id == "ing-first":
            assert latest(api, series)["data"][0]["value"] == 21.5
    readings = api.get(f"/iot/{quote(series, safe='')}/readings").json()["data"]
    assert len(readings) == 1
    assert datetime.fromisoformat(readings[0]["date"]) <= datetime.now(UTC)
