"""Payloads as firmware publishes them, read by the ingester's ``MessageReader`` (no broker,
no database: the registry's device profiles are given). End-to-end runs through the real
broker with device credentials are in ``test_firmware_kinds.py``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ingest.parsing import IgnoredTopic, MessageReader, PayloadError
from telemetry.records import DeviceEventIn, DeviceProfile, ReadingIn

RX = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def reader(**kinds: tuple[str, str]) -> MessageReader:
    profiles = {name: DeviceProfile(name, kind, tz) for name, (kind, tz) in kinds.items()}
    found = MessageReader(profiles=lambda names: {n: profiles[n] for n in names if n in profiles})
    found.prefetch(list(profiles))
    return found


def read(r: MessageReader, topic: str, payload: bytes | str, rx: datetime = RX):
    data = payload.encode() if isinstance(payload, str) else payload
    return r.read(mqtt_topic=topic, payload=data, received_at=rx)


def values(decoded) -> dict[str, object]:
    return {
        r.topic: (r.value if r.text is None else r.text, r.ts, r.unit) for r in decoded.readings
    }


def test_tasmota_sensor_time_is_local_in_the_devices_zone_and_units_are_kept():
    # tele/<topic>/SENSOR of a BME280, https://tasmota.github.io/docs/BME280/ (and the issue)
    payload = (
        '{"Time":"2019-11-03T19:34:28","BME280":{"Temperature":21.7,"Humidity":66.6,'
        '"DewPoint":15.1,"Pressure":988.6},"PressureUnit":"hPa","TempUnit":"C"}'
    )
    r = reader(plug=("tasmota", "Europe/Berlin"))
    got = values(read(r, "tele/plug/SENSOR", payload))
    local = datetime(2019, 11, 3, 19, 34, 28, tzinfo=ZoneInfo("Europe/Berlin"))
    assert got == {
        "plug.BME280.Temperature": (21.7, local, "°C"),
        "plug.BME280.Humidity": (66.6, local, None),
        "plug.BME280.DewPoint": (15.1, local, "°C"),
        "plug.BME280.Pressure": (988.6, local, "hPa"),
    }
    assert local.astimezone(UTC).hour == 18  # CET is UTC+1 in November


def test_tasmota_state_power_words_are_booleans_and_other_strings_text():
    # tele/<topic>/STATE, https://tasmota.github.io/docs/MQTT/#tele-messages
    payload = (
        '{"Time":"2019-11-03T19:34:28","Uptime":"0T00:15:06","UptimeSec":906,"Heap":26,'
        '"SleepMode":"Dynamic","Sleep":50,"LoadAvg":19,"MqttCount":1,"POWER":"ON",'
        '"Wifi":{"AP":1,"SSId":"home","BSSId":"30:B5:C2:5D:70:72","Channel":9,"RSSI":82,'
        '"Signal":-59,"LinkCount":1,"Downtime":"0T00:00:03"}}'
    )
    got = values(read(reader(plug=("tasmota", "UTC")), "tele/plug/STATE", payload))
    assert got["plug.POWER"][0] == 1.0
    assert got["plug.SleepMode"][0] == "Dynamic"
    assert got["plug.Wifi.RSSI"][0] == 82.0
    assert got["plug.Wifi.SSId"][0] == "home"
    assert "plug.Time" not in got


def test_tasmota_lwt_is_availability_and_commands_are_ignored():
    r = reader(plug=("tasmota", "UTC"))
    assert read(r, "tele/plug/LWT", "Offline").events == [DeviceEventIn("plug", False, RX)]
    assert read(r, "tele/plug/LWT", "Online").events == [DeviceEventIn("plug", True, RX)]
    assert values(read(r, "stat/plug/POWER", "ON")) == {"plug.POWER": (1.0, RX, None)}
    with pytest.raises(IgnoredTopic):
        read(r, "cmnd/plug/POWER", "TOGGLE")


@pytest.mark.parametrize("word", ["ON", "on", "On", "true", "TRUE", "online"])
def test_esphome_states_read_boolean_words_as_one(word):
    r = reader(node=("esphome", "UTC"))
    got = values(read(r, "node/binary_sensor/motion/state", word))
    assert got == {"node.binary_sensor.motion": (1.0, RX, None)}


def test_esphome_sensor_status_and_commands():
    # https://esphome.io/components/mqtt.html: <topic_prefix>/<component>/<name>/state
    r = reader(node=("esphome", "UTC"))
    assert values(read(r, "node/sensor/temperature/state", "23.4")) == {
        "node.sensor.temperature": (23.4, RX, None)
    }
    assert read(r, "node/status", "offline").events == [DeviceEventIn("node", False, RX)]
    with pytest.raises(IgnoredTopic):
        read(r, "node/light/kitchen/command", '{"state":"ON"}')
    with pytest.raises(IgnoredTopic):
        read(r, "homeassistant/sensor/node/temperature/config", "{}")


def test_shelly_gen2_notify_status_takes_its_time_from_params_ts():
    # https://shelly-api-docs.shelly.cloud/gen2/General/Notifications#notifystatus
    payload = (
        '{"src":"shellyplus1-a8032ab720ac","dst":"shellyplus1-a8032ab720ac/events",'
        '"method":"NotifyStatus","params":{"ts":1631266595.43,'
        '"switch:0":{"id":0,"output":true,"source":"button"}}}'
    )
    r = reader(sh=("shelly", "UTC"))
    got = values(read(r, "sh/events/rpc", payload))
    when = datetime.fromtimestamp(1631266595.43, tz=UTC)
    assert got == {
        "sh.switch:0.id": (0.0, when, None),
        "sh.switch:0.output": (1.0, when, None),
        "sh.switch:0.source": ("button", when, None),
    }
    with pytest.raises(IgnoredTopic):  # NotifyEvent is not a status
        read(r, "sh/events/rpc", '{"method":"NotifyEvent","params":{"ts":1,"events":[]}}')
    assert read(r, "sh/online", "false").events == [DeviceEventIn("sh", False, RX)]


def test_shelly_gen2_status_component_and_gen1_topics():
    r = reader(sh=("shelly", "UTC"))
    status = '{"id":0,"output":false,"apower":0.0,"aenergy":{"total":1.5,"by_minute":[0,0,0]}}'
    got = values(read(r, "sh/status/switch:0", status))
    assert got["sh.switch:0.output"][0] == 0.0
    assert got["sh.switch:0.aenergy.by_minute.2"][0] == 0.0
    # Gen1, https://shelly-api-docs.shelly.cloud/gen1/#shelly1-shelly1pm-mqtt
    assert values(read(r, "shellies/sh/relay/0", "on")) == {"sh.relay.0": (1.0, RX, None)}
    assert values(read(r, "shellies/sh/relay/0/power", "12.5"))["sh.relay.0.power"][0] == 12.5
    assert read(r, "shellies/sh/online", "true").events == [DeviceEventIn("sh", True, RX)]
    with pytest.raises(IgnoredTopic):
        read(r, "shellies/sh/announce", '{"id":"sh","mac":"A8032AB720AC"}')
    with pytest.raises(IgnoredTopic):
        read(r, "shellies/sh/relay/0/command", "on")


def test_zigbee2mqtt_friendly_names_with_spaces_and_slashes():
    # https://www.zigbee2mqtt.io/guide/usage/mqtt_topics_and_messages.html
    r = reader(zb=("zigbee2mqtt", "UTC"))
    state = '{"temperature":23.4,"humidity":52.1,"battery":100,"linkquality":120}'
    got = values(read(r, "zb/living room/sensor", state))
    assert got["zb.living room.sensor.temperature"] == (23.4, RX, None)
    assert read(r, "zb/bridge/state", '{"state":"online"}').events == [
        DeviceEventIn("zb", True, RX)
    ]
    assert read(r, "zb/bridge/state", "offline").events == [DeviceEventIn("zb", False, RX)]
    assert read(r, "zb/living room/sensor/availability", '{"state":"offline"}').events == [
        DeviceEventIn("zb", False, RX, "living room/sensor")
    ]
    for ignored in ("zb/bridge/devices", "zb/bridge/info", "zb/lamp/set", "zb/lamp/set/state"):
        with pytest.raises(IgnoredTopic):
            read(r, ignored, "[]")


def test_owntracks_location_and_last_will():
    # https://owntracks.org/booklet/tech/json/#_typelocation
    location = (
        '{"_type":"location","tid":"JJ","acc":5,"alt":42,"batt":87,"conn":"w",'
        '"lat":51.5007,"lon":-0.1246,"tst":1584350135,"vel":3}'
    )
    r = reader(jane=("owntracks", "UTC"))
    got = values(read(r, "owntracks/jane/phone", location))
    when = datetime.fromtimestamp(1584350135, tz=UTC)
    assert sorted(got) == [
        f"jane.phone.{k}" for k in sorted(("acc", "alt", "batt", "lat", "lon", "vel"))
    ]
    assert got["jane.phone.lat"] == (51.5007, when, "°")
    lwt = read(r, "owntracks/jane/phone", '{"_type":"lwt","tst":1584350000}')
    assert lwt.events == [DeviceEventIn("jane", False, RX)]
    with pytest.raises(IgnoredTopic):
        read(r, "owntracks/jane/phone", '{"_type":"transition","event":"enter","tst":1}')


def test_senml_base_name_base_time_and_units():
    # RFC 8428, section 5.1.2 (multiple datapoints)
    pack = (
        '[{"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,"bu":"A","bver":5,'
        '"n":"voltage","u":"V","v":120.1},{"n":"current","t":-5,"v":1.2},'
        '{"n":"current","t":-4,"v":1.3},{"n":"current","t":-3,"v":1.4},'
        '{"n":"current","t":-2,"v":1.5},{"n":"current","t":-1,"v":1.6},{"n":"current","v":1.7}]'
    )
    decoded = read(reader(), "meter/senml", pack)
    base = datetime.fromtimestamp(1.276020076001e09, tz=UTC)
    current = [r for r in decoded.readings if r.topic.endswith(":current")]
    assert [r.value for r in current] == [1.2, 1.3, 1.4, 1.5, 1.6, 1.7]
    assert [round((r.ts - base).total_seconds(), 3) for r in current] == [-5, -4, -3, -2, -1, 0]
    assert {r.unit for r in current} == {"A"}
    (voltage,) = [r for r in decoded.readings if r.topic.endswith(":voltage")]
    assert voltage.topic == "meter.senml.urn:dev:ow:10e2073a0108006:voltage"
    assert (voltage.value, voltage.unit) == (120.1, "V")


def test_senml_relative_times_strings_and_booleans():
    # RFC 8428, section 4.5.3: a time below 2**28 is relative to now
    pack = (
        '[{"n":"temp","t":-10,"v":21,"u":"Cel"},{"n":"temp","v":22},'
        '{"n":"door","vb":true},{"n":"msg","vs":"ON"}]'
    )
    got = read(reader(), "dev/s", pack).readings
    assert got == [
        ReadingIn("dev.s.temp", RX - timedelta(seconds=10), 21.0, None, "Cel"),
        ReadingIn("dev.s.temp", RX, 22.0, None, None),
        ReadingIn("dev.s.door", RX, 1.0, None, None),
        ReadingIn("dev.s.msg", RX, None, "ON", None),
    ]


def test_line_protocol_several_lines_tags_types_and_nanoseconds():
    # https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/ and Telegraf's
    # MQTT output (data_format "influx"), topic template <device>/<plugin>
    payload = (
        "cpu,cpu=cpu-total,host=server01 usage_idle=98.5,usage_user=1.2 1700000000000000000\n"
        "cpu,cpu=cpu0,host=server01 usage_idle=97.25 1700000000000000000\n"
        'mem,host=server01 available=1024i,ok=true,note="all good" 1700000000123456789\n'
    )
    got = values(read(reader(), "srv/cpu", payload))
    when = datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert got["srv.cpu.cpu=cpu-total.usage_idle"] == (98.5, when, None)
    assert got["srv.cpu.cpu=cpu0.usage_idle"] == (97.25, when, None)
    mem_at = when + timedelta(microseconds=123456)  # nanoseconds truncated
    assert got["srv.cpu.mem.available"] == (1024.0, mem_at, None)
    assert got["srv.cpu.mem.ok"] == (1.0, mem_at, None)
    assert got["srv.cpu.mem.note"] == ("all good", mem_at, None)
    assert len(got) == 6


def test_line_protocol_a_broken_line_dead_letters_the_message():
    with pytest.raises(PayloadError, match="line protocol, line 2"):
        read(reader(), "srv/cpu", "cpu usage_idle=1 1700000000000000000\ncpu usage_idle= 1")


def test_thingsboard_ts_values_and_arrays_of_them():
    # https://thingsboard.io/docs/reference/mqtt-api/#telemetry-upload-api
    one = '{"ts":1451649600512,"values":{"key1":"value1","key2":"value2"}}'
    many = (
        '[{"ts":1451649600512,"values":{"temperature":42.2,"humidity":70}},'
        '{"ts":1451649601512,"values":{"temperature":42.3,"humidity":69}}]'
    )
    at = datetime(2016, 1, 1, 12, 0, 0, 512000, tzinfo=UTC)
    assert values(read(reader(), "tb/telemetry", one)) == {
        "tb.telemetry.key1": ("value1", at, None),
        "tb.telemetry.key2": ("value2", at, None),
    }
    got = read(reader(), "tb/telemetry", many).readings
    assert [(r.topic, r.value, r.ts) for r in got] == [
        ("tb.telemetry.temperature", 42.2, at),
        ("tb.telemetry.humidity", 70.0, at),
        ("tb.telemetry.temperature", 42.3, at + timedelta(seconds=1)),
        ("tb.telemetry.humidity", 69.0, at + timedelta(seconds=1)),
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1_700_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (1_700_000_000_123, datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)),
        (1_700_000_000_123_456, datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)),
        (1_700_000_000_123_456_789, datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)),
    ],
    ids=["s", "ms", "us", "ns"],
)
def test_epoch_times_by_magnitude(raw, expected):
    got = read(reader(), "dev/t", f'{{"value": 1, "ts": {raw}}}', rx=expected).readings
    assert got[0].ts == expected


def test_a_local_time_without_offset_reads_in_the_devices_zone_everywhere():
    r = reader(dev=("native", "America/New_York"))
    got = read(r, "dev/t", '{"value": 1, "ts": "2024-01-15T08:00:00"}').readings
    assert got[0].ts == datetime(2024, 1, 15, 13, 0, tzinfo=UTC)
    got = read(r, "dev/t", '{"value": 1, "ts": "2024-01-15T08:00:00Z"}').readings
    assert got[0].ts == datetime(2024, 1, 15, 8, 0, tzinfo=UTC)


def test_skipped_values_are_counted_and_the_rest_kept():
    decoded = read(reader(), "dev", '{"a": null, "b": "", "c": "NaN", "d": 1}')
    assert decoded.skipped == 3
    assert [r.topic for r in decoded.readings] == ["dev.d"]


def test_native_status_topic_is_availability():
    assert read(reader(), "dev/status", "offline").events == [DeviceEventIn("dev", False, RX)]
    with pytest.raises(PayloadError, match="availability must be"):
        read(reader(), "dev/status", "maybe")
    with pytest.raises(IgnoredTopic):
        read(reader(), "dev/lamp/set", "ON")
