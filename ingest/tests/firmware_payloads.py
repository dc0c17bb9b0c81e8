"""Real payloads as each firmware publishes them, copied from that firmware's own
documentation (or its source, or the specification), for the ingest tests of issue 14. Data
only: the tests that publish these through the broker and check the HTTP API use them.

Conventions
- ``topic`` and ``series`` hold ``{name}`` for the device name: ``fixture.topic.format(name=n)``
  (no other braces appear in them). ``payload`` is the exact bytes a device sends. JSON that a
  page shows pretty-printed is given compact, as the firmware sends it on the wire; where a
  documented example had to be edited (placeholders, comments) or composed, ``note`` says so.
- ``time`` is the reading time the payload carries: a ``str`` without offset is a local time,
  to be read in the device's ``tz``; a ``str`` with an offset is absolute; a number is epoch
  seconds (UTC); ``None`` means the payload has no time (the receive time applies).
- ``readings``: what the message must become. ``value`` for numbers and booleans (1.0/0.0),
  ``text`` for text readings, ``unit`` the unit the payload states (``None``: it states none;
  a layout may still add one, e.g. OwnTracks' metres). ``skipped`` counts values that are
  skipped (``null``, ``""``, ``NaN``, ``None``). For SenML and line protocol, whose place
  under the device's series DESIGN.md leaves to the ingester, ``series`` is the name *inside*
  the payload (SenML: the resolved ``bn`` + ``n``; line protocol: ``<measurement>.<field>``).
- ``AVAILABILITY``: messages that set the device's ``online`` flag (never a reading);
  ``IGNORED``: metadata and command topics to accept and ignore (never a reading, never a
  dead letter).
- Sparkplug payloads are protobuf: :class:`SparkplugMessage` lists the metrics as
  ``(name, alias, datatype, value)``, to be encoded with ``sensors.sparkplug.payload_encode``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reading:
    series: str
    value: float | None = None
    text: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class Payload:
    kind: str  # the device kind (layout) that publishes it
    topic: str
    payload: bytes
    source: str
    readings: tuple[Reading, ...] = ()
    time: str | float | None = None
    skipped: int = 0
    retain: bool = False  # as the firmware publishes it by default
    note: str = ""


@dataclass(frozen=True)
class Availability:
    kind: str
    topic: str
    payload: bytes
    online: bool
    source: str
    retain: bool = False
    will: bool = False  # the firmware's last will (sent by the broker when it drops)
    note: str = ""


@dataclass(frozen=True)
class Ignored:
    kind: str
    topic: str
    payload: bytes
    source: str
    why: str


@dataclass(frozen=True)
class SparkplugMessage:
    topic: str
    timestamp_ms: int
    seq: int | None
    metrics: tuple[tuple[str | None, int | None, str, object], ...]
    source: str
    datatypes: bool = True  # births carry datatypes; DATA messages need not
    readings: tuple[Reading, ...] = ()
    online: bool | None = None  # DEATH: False
    note: str = ""


# --- Tasmota -------------------------------------------------------------------------------
# FullTopic %prefix%/%topic%/ with Topic = the device name. Units: TempUnit "C"/"F" -> "°C"/"°F"
# on Temperature, DewPoint (and keys ending in Temperature); PressureUnit on Pressure and
# SeaPressure; SpeedUnit on Speed (documented for the TX2x wind sensors).

TASMOTA_BME280 = Payload(
    kind="tasmota",
    topic="tele/{name}/SENSOR",
    payload=(
        b'{"Time":"2019-11-03T19:34:28","BME280":{"Temperature":21.7,"Humidity":66.6,'
        b'"Pressure":988.6},"PressureUnit":"hPa","TempUnit":"C"}'
    ),
    # https://tasmota.github.io/docs/BME280/ ("Sensor sends a tele/%topic%/SENSOR JSON reponse")
    source="https://tasmota.github.io/docs/BME280/",
    readings=(
        Reading("{name}.BME280.Temperature", 21.7, unit="°C"),
        Reading("{name}.BME280.Humidity", 66.6),
        Reading("{name}.BME280.Pressure", 988.6, unit="hPa"),
    ),
    time="2019-11-03T19:34:28",
    note="TempUnit/PressureUnit are units, not series",
)

TASMOTA_AHT1X_DEWPOINT = Payload(
    kind="tasmota",
    topic="tele/{name}/SENSOR",
    payload=(
        b'{"Time":"2020-01-01T00:00:00","AHT1X-0x38":{"Temperature":24.7,"Humidity":61.9,'
        b'"DewPoint":16.8},"TempUnit":"C"}'
    ),
    # https://tasmota.github.io/docs/AHT1x/ ("and in MQTT topic (according to TelePeriod)")
    source="https://tasmota.github.io/docs/AHT1x/",
    readings=(
        Reading("{name}.AHT1X-0x38.Temperature", 24.7, unit="°C"),
        Reading("{name}.AHT1X-0x38.Humidity", 61.9),
        Reading("{name}.AHT1X-0x38.DewPoint", 16.8, unit="°C"),
    ),
    time="2020-01-01T00:00:00",
)

TASMOTA_DS18B20 = Payload(
    kind="tasmota",
    topic="tele/{name}/SENSOR",
    payload=b'{"Time":"2019-01-01T00:00:00","DS18B20":{"Temperature":49.7},"TempUnit":"C"}',
    # https://tasmota.github.io/docs/DS18x20/ ("Sensor sends a tele/%topic%/SENSOR JSON reponse")
    source="https://tasmota.github.io/docs/DS18x20/",
    readings=(Reading("{name}.DS18B20.Temperature", 49.7, unit="°C"),),
    time="2019-01-01T00:00:00",
)

TASMOTA_TX23_WIND = Payload(
    kind="tasmota",
    topic="tele/{name}/SENSOR",
    payload=(
        b'{"Time":"2020-03-03T00:00:00+00:00","TX23":{"Speed":{"Act":14.8,"Avg":8.5,'
        b'"Min":12.2,"Max":14.8},"Dir":{"Card":"WSW","Deg":247.5,"Avg":266.1,"AvgCard":"W",'
        b'"Min":247.5,"Max":247.5,"Range":0}},"SpeedUnit":"km/h"}'
    ),
    # https://tasmota.github.io/docs/TX2x/ ("Sensor sends a tele/%topic%/SENSOR JSON reponse";
    # "SpeedUnit <x>": 1 m/s, 2 km/h (default), 3 kn, 4 mph, 5 ft/s, 6 yd/s)
    source="https://tasmota.github.io/docs/TX2x/",
    readings=(
        Reading("{name}.TX23.Speed.Act", 14.8, unit="km/h"),
        Reading("{name}.TX23.Speed.Avg", 8.5, unit="km/h"),
        Reading("{name}.TX23.Speed.Min", 12.2, unit="km/h"),
        Reading("{name}.TX23.Speed.Max", 14.8, unit="km/h"),
        Reading("{name}.TX23.Dir.Card", text="WSW"),
        Reading("{name}.TX23.Dir.Deg", 247.5),
        Reading("{name}.TX23.Dir.Avg", 266.1),
        Reading("{name}.TX23.Dir.AvgCard", text="W"),
        Reading("{name}.TX23.Dir.Min", 247.5),
        Reading("{name}.TX23.Dir.Max", 247.5),
        Reading("{name}.TX23.Dir.Range", 0.0),
    ),
    time="2020-03-03T00:00:00+00:00",  # this one carries its offset: absolute, not local
    note="guess: SpeedUnit applies to the leaves of the Speed object (the docs only show it)",
)

TASMOTA_ANALOG_WITH_EPOCH = Payload(
    kind="tasmota",
    topic="tele/{name}/SENSOR",
    payload=b'{"Time":"2019-09-04T13:08:48","Epoch":1567595328,"ANALOG":{"A0":8}}',
    # https://tasmota.github.io/docs/DeepSleep/ (console log: "MQT: tele/tasmota/SENSOR = ...")
    source="https://tasmota.github.io/docs/DeepSleep/",
    readings=(Reading("{name}.ANALOG.A0", 8.0),),
    time="2019-09-04T13:08:48",
    note=(
        "Time 2 format (ISO and Epoch): Epoch 1567595328 is 2019-09-04T11:08:48Z, i.e. that "
        "device's zone was UTC+2 (Europe/Berlin in summer); guess: Epoch is a time, not a series"
    ),
)

TASMOTA_STATE = Payload(
    kind="tasmota",
    topic="tele/{name}/STATE",
    payload=(
        b'{"Time":"2019-10-31T11:14:59","Uptime":"0T18:36:12","UptimeSec":66972,"Vcc":3.423,'
        b'"Heap":28,"SleepMode":"Dynamic","Sleep":50,"LoadAvg":19,"MqttCount":6,"POWER":"OFF",'
        b'"Wifi":{"AP":1,"SSId":"Tasmota","BSSId":"00:00:00:00:00:00","Channel":13,"RSSI":100,'
        b'"LinkCount":1,"Downtime":"0T00:00:06"}}'
    ),
    # https://tasmota.github.io/docs/ADC/ ("Supply voltage is published in tele/%topic%/STATE")
    source="https://tasmota.github.io/docs/ADC/#adc_vcc",
    readings=(
        Reading("{name}.Uptime", text="0T18:36:12"),
        Reading("{name}.UptimeSec", 66972.0),
        Reading("{name}.Vcc", 3.423),
        Reading("{name}.Heap", 28.0),
        Reading("{name}.SleepMode", text="Dynamic"),
        Reading("{name}.Sleep", 50.0),
        Reading("{name}.LoadAvg", 19.0),
        Reading("{name}.MqttCount", 6.0),
        Reading("{name}.POWER", 0.0),  # "OFF" is a boolean
        Reading("{name}.Wifi.AP", 1.0),
        Reading("{name}.Wifi.SSId", text="Tasmota"),
        Reading("{name}.Wifi.BSSId", text="00:00:00:00:00:00"),
        Reading("{name}.Wifi.Channel", 13.0),
        Reading("{name}.Wifi.RSSI", 100.0),
        Reading("{name}.Wifi.LinkCount", 1.0),
        Reading("{name}.Wifi.Downtime", text="0T00:00:06"),
    ),
    time="2019-10-31T11:14:59",
)

TASMOTA_STAT_POWER = Payload(
    kind="tasmota",
    topic="stat/{name}/POWER",
    payload=b"ON",
    # https://tasmota.github.io/docs/MQTT/#command-flow ("stat/tasmota_switch/POWER → ON")
    source="https://tasmota.github.io/docs/MQTT/#command-flow",
    readings=(Reading("{name}.POWER", 1.0),),
)

TASMOTA_STAT_RESULT = Payload(
    kind="tasmota",
    topic="stat/{name}/RESULT",
    payload=b'{"POWER":"OFF"}',
    # https://tasmota.github.io/docs/MQTT/#command-flow ("stat/tasmota_switch/RESULT → ...")
    source="https://tasmota.github.io/docs/MQTT/#command-flow",
    readings=(Reading("{name}.RESULT.POWER", 0.0),),
)

TASMOTA = (
    TASMOTA_BME280,
    TASMOTA_AHT1X_DEWPOINT,
    TASMOTA_DS18B20,
    TASMOTA_TX23_WIND,
    TASMOTA_ANALOG_WITH_EPOCH,
    TASMOTA_STATE,
    TASMOTA_STAT_POWER,
    TASMOTA_STAT_RESULT,
)

# --- ESPHome -------------------------------------------------------------------------------
# topic_prefix left at the node name (= the device name). State topics default to
# <TOPIC_PREFIX>/<COMPONENT_TYPE>/<COMPONENT_NAME>/state and are retained by default
# (https://esphome.io/components/mqtt.html, "MQTT Component Base Configuration"). Payloads:
# a sensor publishes value_accuracy_to_string(value, accuracy_decimals), or "None" for NaN when
# publish_nan_as_none is set (esphome/components/mqtt/mqtt_sensor.cpp); a binary sensor "ON"
# or "OFF" (esphome/components/mqtt/mqtt_binary_sensor.cpp). The pages show no literal
# values: the numbers below are ours, their form is the firmware's.

ESPHOME_SENSOR = Payload(
    kind="esphome",
    topic="{name}/sensor/temperature/state",
    payload=b"23.4",
    source="https://esphome.io/components/mqtt.html#mqtt-component-base-configuration",
    readings=(Reading("{name}.sensor.temperature", 23.4),),
    retain=True,
)

ESPHOME_BINARY_ON = Payload(
    kind="esphome",
    topic="{name}/binary_sensor/motion/state",
    payload=b"ON",
    source="https://github.com/esphome/esphome/blob/dev/esphome/components/mqtt/mqtt_binary_sensor.cpp",
    readings=(Reading("{name}.binary_sensor.motion", 1.0),),
    retain=True,
)

ESPHOME_BINARY_OFF = Payload(
    kind="esphome",
    topic="{name}/binary_sensor/motion/state",
    payload=b"OFF",
    source="https://github.com/esphome/esphome/blob/dev/esphome/components/mqtt/mqtt_binary_sensor.cpp",
    readings=(Reading("{name}.binary_sensor.motion", 0.0),),
    retain=True,
)

ESPHOME_SWITCH = Payload(
    kind="esphome",
    topic="{name}/switch/relay/state",
    payload=b"ON",
    source="https://esphome.io/components/mqtt.html#mqtt-component-base-configuration",
    readings=(Reading("{name}.switch.relay", 1.0),),
    retain=True,
)

ESPHOME_TEXT_SENSOR = Payload(
    kind="esphome",
    topic="{name}/text_sensor/esphome_version/state",
    payload=b"2024.6.1 Jun 20 2024, 10:05:08",
    source="https://esphome.io/components/text_sensor/version.html",
    readings=(
        Reading("{name}.text_sensor.esphome_version", text="2024.6.1 Jun 20 2024, 10:05:08"),
    ),
    retain=True,
    note="the version text sensor's form ('<version> <build date>'); the value is ours",
)

ESPHOME_NAN_AS_NONE = Payload(
    kind="esphome",
    topic="{name}/sensor/temperature/state",
    payload=b"None",
    source="https://github.com/esphome/esphome/blob/dev/esphome/components/mqtt/mqtt_sensor.cpp",
    skipped=1,
    retain=True,
    note="publish_nan_as_none: a sensor without a value; skipped, not a dead letter",
)

ESPHOME = (
    ESPHOME_SENSOR,
    ESPHOME_BINARY_ON,
    ESPHOME_BINARY_OFF,
    ESPHOME_SWITCH,
    ESPHOME_TEXT_SENSOR,
    ESPHOME_NAN_AS_NONE,
)

# --- Shelly Gen1 ---------------------------------------------------------------------------
# shellies/<mqtt id>/..., the MQTT id (mqtt_id, default <model>-<deviceid>) set to the device
# name. https://shelly-api-docs.shelly.cloud/gen1/#shelly1-1pm-mqtt lists the topics with
# their payload forms; where it gives no literal, the value is ours (note says so).

_GEN1 = "https://shelly-api-docs.shelly.cloud/gen1/#shelly1-1pm-mqtt"

SHELLY_GEN1_RELAY_ON = Payload(
    kind="shelly",
    topic="shellies/{name}/relay/0",
    payload=b"on",
    source=_GEN1,  # "relay/0 to report status: on, off or overpower"
    readings=(Reading("{name}.relay.0", 1.0),),
)

SHELLY_GEN1_RELAY_OFF = Payload(
    kind="shelly",
    topic="shellies/{name}/relay/0",
    payload=b"off",
    source=_GEN1,
    readings=(Reading("{name}.relay.0", 0.0),),
)

SHELLY_GEN1_RELAY_OVERPOWER = Payload(
    kind="shelly",
    topic="shellies/{name}/relay/0",
    payload=b"overpower",
    source=_GEN1,
    readings=(Reading("{name}.relay.0", text="overpower"),),
)

SHELLY_GEN1_POWER = Payload(
    kind="shelly",
    topic="shellies/{name}/relay/0/power",
    payload=b"41.25",
    source=_GEN1,  # "relay/0/power reports instantaneous power in Watts"
    readings=(Reading("{name}.relay.0.power", 41.25),),
    note="the value is ours",
)

SHELLY_GEN1_INPUT_EVENT = Payload(
    kind="shelly",
    topic="shellies/{name}/input_event/0",
    payload=b'{"event":"S","event_cnt":2}',
    source=_GEN1,  # "reports input event and event counter, e.g.: {"event":"S","event_cnt":2}"
    readings=(
        Reading("{name}.input_event.0.event", text="S"),
        Reading("{name}.input_event.0.event_cnt", 2.0),
    ),
)

SHELLY_GEN1_TEMPERATURE_STATUS = Payload(
    kind="shelly",
    topic="shellies/{name}/temperature_status",
    payload=b"Very High",
    source=_GEN1,  # "temperature_status reports Normal, High, Very High"
    readings=(Reading("{name}.temperature_status", text="Very High"),),
)

SHELLY_GEN1_EXT_TEMPERATURES = Payload(
    kind="shelly",
    topic="shellies/{name}/ext_temperatures",
    payload=(
        b'{"0":{"hwID":"XXXXXXXX","tC":20.5},"1":{"hwID":"YYYYYYYY","tC":21.5},'
        b'"2":{"hwID":"ZZZZZZZZ","tC":22.5}}'
    ),
    source=_GEN1,  # "aggregated topics which contain data from all sensors"
    readings=(
        Reading("{name}.ext_temperatures.0.hwID", text="XXXXXXXX"),
        Reading("{name}.ext_temperatures.0.tC", 20.5),
        Reading("{name}.ext_temperatures.1.hwID", text="YYYYYYYY"),
        Reading("{name}.ext_temperatures.1.tC", 21.5),
        Reading("{name}.ext_temperatures.2.hwID", text="ZZZZZZZZ"),
        Reading("{name}.ext_temperatures.2.tC", 22.5),
    ),
)

# --- Shelly Gen2 ---------------------------------------------------------------------------
# <topic_prefix>/... with topic_prefix = the device name. NotifyStatus frames on
# <prefix>/events/rpc (https://shelly-api-docs.shelly.cloud/gen2/General/Notifications,
# examples 1 and 2; "to receive notifications over MQTT subscribe to <shelly-id>/events/rpc"),
# full component status on <prefix>/status/<component:id> (status_ntf,
# https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Mqtt). Series:
# <name>.<component>.<keys>; params.ts is the time; src/dst/method are the frame, not data.

SHELLY_GEN2_NOTIFY_SWITCH = Payload(
    kind="shelly",
    topic="{name}/events/rpc",
    payload=(
        b'{"src":"shellypro4pm-f008d1d8b8b8","dst":"user_1","method":"NotifyStatus",'
        b'"params":{"ts":1631186545.04,"switch:0":{"id":0,"output":true,"source":"button"}}}'
    ),
    # Example 1: "Notify that a button has changed the output state of the switch with id=0."
    source="https://shelly-api-docs.shelly.cloud/gen2/General/Notifications#notifystatus",
    readings=(
        Reading("{name}.switch:0.id", 0.0),
        Reading("{name}.switch:0.output", 1.0),
        Reading("{name}.switch:0.source", text="button"),
    ),
    time=1631186545.04,
    note="src is the docs' device id: identity comes from the topic, never the payload",
)

SHELLY_GEN2_NOTIFY_CLOUD = Payload(
    kind="shelly",
    topic="{name}/events/rpc",
    payload=(
        b'{"src":"shellypro4pm-f008d1d8b8b8","dst":"user_1","method":"NotifyStatus",'
        b'"params":{"ts":1624348482.25,"cloud":{"connected":false}}}'
    ),
    # Example 2: "Notify that this device has lost connection to the cloud."
    source="https://shelly-api-docs.shelly.cloud/gen2/General/Notifications#notifystatus",
    readings=(Reading("{name}.cloud.connected", 0.0),),
    time=1624348482.25,
)

SHELLY_GEN2_NOTIFY_NULL_KEY = Payload(
    kind="shelly",
    topic="{name}/events/rpc",
    payload=(
        b'{"src":"shellyplus1-a8032abe54dc","dst":"shellyplus1-a8032abe54dc/events",'
        b'"method":"NotifyStatus","params":{"ts":1631186545.05,'
        b'"switch:0":{"id":0,"output":false,"timer_started_at":null}}}'
    ),
    # "When such keys disappear from the status payload, the NotifyStatus payload which
    # notifies about the change will include the key with a null value."
    source="https://shelly-api-docs.shelly.cloud/gen2/General/Notifications#notifystatus",
    readings=(Reading("{name}.switch:0.id", 0.0), Reading("{name}.switch:0.output", 0.0)),
    time=1631186545.05,
    skipped=1,
    note="composed from the rule quoted above (key names from the Switch status)",
)

SHELLY_GEN2_STATUS_SWITCH = Payload(
    kind="shelly",
    topic="{name}/status/switch:0",
    payload=(
        b'{"id":0,"source":"WS_in","output":false,"apower":0,"voltage":225.9,"current":0,'
        b'"freq":50,"aenergy":{"total":11.679,"by_minute":[0,0,0],"minute_ts":1654511972},'
        b'"ret_aenergy":{"total":5.817,"by_minute":[0,0,0],"minute_ts":1654511615},'
        b'"temperature":{"tC":53.3,"tF":127.9}}'
    ),
    # the Switch.GetStatus example; status_ntf publishes "the entire status payload"
    source="https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Switch#status",
    readings=(
        Reading("{name}.switch:0.id", 0.0),
        Reading("{name}.switch:0.source", text="WS_in"),
        Reading("{name}.switch:0.output", 0.0),
        Reading("{name}.switch:0.apower", 0.0),
        Reading("{name}.switch:0.voltage", 225.9),
        Reading("{name}.switch:0.current", 0.0),
        Reading("{name}.switch:0.freq", 50.0),
        Reading("{name}.switch:0.aenergy.total", 11.679),
        Reading("{name}.switch:0.aenergy.by_minute.0", 0.0),
        Reading("{name}.switch:0.aenergy.by_minute.1", 0.0),
        Reading("{name}.switch:0.aenergy.by_minute.2", 0.0),
        Reading("{name}.switch:0.aenergy.minute_ts", 1654511972.0),
        Reading("{name}.switch:0.ret_aenergy.total", 5.817),
        Reading("{name}.switch:0.ret_aenergy.by_minute.0", 0.0),
        Reading("{name}.switch:0.ret_aenergy.by_minute.1", 0.0),
        Reading("{name}.switch:0.ret_aenergy.by_minute.2", 0.0),
        Reading("{name}.switch:0.ret_aenergy.minute_ts", 1654511615.0),
        Reading("{name}.switch:0.temperature.tC", 53.3),
        Reading("{name}.switch:0.temperature.tF", 127.9),
    ),
    note="minute_ts is a number like any other (no ts/Time/tst/timestamp key): receive time",
)

SHELLY_GEN2_STATUS_TEMPERATURE = Payload(
    kind="shelly",
    topic="{name}/status/temperature:0",
    payload=b'{"id":0,"tC":24.4,"tF":75.9}',
    source="https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Temperature#status",
    readings=(
        Reading("{name}.temperature:0.id", 0.0),
        Reading("{name}.temperature:0.tC", 24.4),
        Reading("{name}.temperature:0.tF", 75.9),
    ),
)

SHELLY_GEN2_STATUS_HUMIDITY = Payload(
    kind="shelly",
    topic="{name}/status/humidity:0",
    payload=b'{"id":0,"rh":73.7}',
    source="https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Humidity#status",
    readings=(Reading("{name}.humidity:0.id", 0.0), Reading("{name}.humidity:0.rh", 73.7)),
)

SHELLY = (
    SHELLY_GEN1_RELAY_ON,
    SHELLY_GEN1_RELAY_OFF,
    SHELLY_GEN1_RELAY_OVERPOWER,
    SHELLY_GEN1_POWER,
    SHELLY_GEN1_INPUT_EVENT,
    SHELLY_GEN1_TEMPERATURE_STATUS,
    SHELLY_GEN1_EXT_TEMPERATURES,
    SHELLY_GEN2_NOTIFY_SWITCH,
    SHELLY_GEN2_NOTIFY_CLOUD,
    SHELLY_GEN2_NOTIFY_NULL_KEY,
    SHELLY_GEN2_STATUS_SWITCH,
    SHELLY_GEN2_STATUS_TEMPERATURE,
    SHELLY_GEN2_STATUS_HUMIDITY,
)

# --- Zigbee2MQTT ---------------------------------------------------------------------------
# base_topic set to the device name; "zigbee2mqtt/FRIENDLY_NAME" becomes <name>/<friendly>,
# a friendly_name may hold "/" (https://www.zigbee2mqtt.io/guide/usage/mqtt_topics_and_messages.html,
# "Some examples": the four device states below, compacted).

_Z2M = "https://www.zigbee2mqtt.io/guide/usage/mqtt_topics_and_messages.html"

ZIGBEE2MQTT_TEMPERATURE = Payload(
    kind="zigbee2mqtt",
    topic="{name}/living room/sensor",
    payload=b'{"temperature":27.34,"humidity":44.72}',
    source=_Z2M + "#zigbee2mqtt-friendly-name",  # Xiaomi MiJia WSDCGQ01LM
    readings=(
        Reading("{name}.living room.sensor.temperature", 27.34),
        Reading("{name}.living room.sensor.humidity", 44.72),
    ),
)

ZIGBEE2MQTT_ACTION = Payload(
    kind="zigbee2mqtt",
    topic="{name}/hall switch",
    payload=b'{"action":"single"}',
    source=_Z2M + "#zigbee2mqtt-friendly-name",  # Xiaomi MiJia wireless switch WXKG01LM
    readings=(Reading("{name}.hall switch.action", text="single"),),
)

ZIGBEE2MQTT_OCCUPANCY = Payload(
    kind="zigbee2mqtt",
    topic="{name}/kitchen motion",
    payload=b'{"occupancy":true}',
    source=_Z2M + "#zigbee2mqtt-friendly-name",  # Xiaomi MiJia motion sensor RTCGQ01LM
    readings=(Reading("{name}.kitchen motion.occupancy", 1.0),),
)

ZIGBEE2MQTT_BULB = Payload(
    kind="zigbee2mqtt",
    topic="{name}/desk lamp",
    payload=b'{"state":"ON","brightness":215,"color_temp":325}',
    source=_Z2M + "#zigbee2mqtt-friendly-name",  # IKEA TRADFRI LED1545G12
    readings=(
        Reading("{name}.desk lamp.state", 1.0),
        Reading("{name}.desk lamp.brightness", 215.0),
        Reading("{name}.desk lamp.color_temp", 325.0),
    ),
)

ZIGBEE2MQTT = (ZIGBEE2MQTT_TEMPERATURE, ZIGBEE2MQTT_ACTION, ZIGBEE2MQTT_OCCUPANCY, ZIGBEE2MQTT_BULB)

# --- OwnTracks -----------------------------------------------------------------------------
# MQTT mode, user = the device name: owntracks/<user>/<device> (https://owntracks.org/booklet/tech/json/,
# "Topics"). The booklet describes the elements but shows no complete message; this one is
# the OwnTracks Android app's own test fixture. "al" is not "alt"; "created_at" is when the
# message was built, tst the fix's time (booklet).

OWNTRACKS_LOCATION = Payload(
    kind="owntracks",
    topic="owntracks/{name}/phone",
    payload=(
        b'{"_type":"location","acc":20,"al":0,"batt":100,"bs":0,"conn":"w",'
        b'"created_at":1610748273,"lat":51.2,"lon":-4,"tid":"aa","tst":1610799026,"vac":40,'
        b'"vel":7}'
    ),
    source=(
        "https://owntracks.org/booklet/tech/json/#_typelocation; payload from "
        "https://github.com/owntracks/android (ContactActivityTests, locationResponse)"
    ),
    readings=(
        Reading("{name}.phone.lat", 51.2),
        Reading("{name}.phone.lon", -4.0),
        Reading("{name}.phone.acc", 20.0),
        Reading("{name}.phone.vel", 7.0),
        Reading("{name}.phone.batt", 100.0),
    ),
    time=1610799026,
    retain=True,
    note="only lat, lon, acc, alt, vel, batt are series (DESIGN.md); alt is absent here",
)

OWNTRACKS = (OWNTRACKS_LOCATION,)

# --- ThingsBoard (recognised by shape on any layout; here a native device) ------------------
# A ThingsBoard device publishes to v1/devices/me/telemetry; pointed at this server it uses a
# topic of its own layout (<name>/telemetry here).

_TB = "https://thingsboard.io/docs/reference/mqtt-api/#telemetry-upload-api"

THINGSBOARD_TS_VALUES = Payload(
    kind="native",
    topic="{name}/telemetry",
    payload=b'{"ts":1451649600512, "values":{"key1":"value1", "key2":"value2"}}',
    source=_TB,  # "In case your device is able to get the client-side timestamp"
    readings=(
        Reading("{name}.telemetry.key1", text="value1"),
        Reading("{name}.telemetry.key2", text="value2"),
    ),
    time=1451649600.512,  # "corresponds to 'Fri, 01 Jan 2016 12:00:00.512 GMT'"
)

THINGSBOARD_OBJECT = Payload(
    kind="native",
    topic="{name}/telemetry",
    payload=b'{"key1":"value1", "key2":true, "key3": 3.0, "key4": 4}',
    source=(
        "https://github.com/thingsboard/thingsboard.github.io/blob/master/"
        "docs/reference/resources/telemetry-data-as-object.json"
    ),
    readings=(
        Reading("{name}.telemetry.key1", text="value1"),
        Reading("{name}.telemetry.key2", 1.0),
        Reading("{name}.telemetry.key3", 3.0),
        Reading("{name}.telemetry.key4", 4.0),
    ),
)

THINGSBOARD_ARRAY = Payload(
    kind="native",
    topic="{name}/telemetry",
    payload=b'[{"key1":"value1"}, {"key2":"value2"}]',
    source=_TB,  # "The simplest supported data formats are: ... or ..."
    readings=(
        Reading("{name}.telemetry.key1", text="value1"),
        Reading("{name}.telemetry.key2", text="value2"),
    ),
    note="guess: an array of plain objects is one reading per key (not keyed by index)",
)

THINGSBOARD_TS_ARRAY = Payload(
    kind="native",
    topic="{name}/telemetry",
    payload=(
        b'[{"ts":1451649600512, "values":{"key1":"value1", "key2":"value2"}}, '
        b'{"ts":1451649601512, "values":{"key1":"value3", "key2":"value4"}}]'
    ),
    source=_TB,
    readings=(
        Reading("{name}.telemetry.key1", text="value1"),
        Reading("{name}.telemetry.key2", text="value2"),
        Reading("{name}.telemetry.key1", text="value3"),
        Reading("{name}.telemetry.key2", text="value4"),
    ),
    time=1451649600.512,  # the first element's; the second is 1451649601.512
    note="composed: the docs' {ts, values} example twice, the second a second later",
)

THINGSBOARD = (THINGSBOARD_TS_VALUES, THINGSBOARD_OBJECT, THINGSBOARD_ARRAY, THINGSBOARD_TS_ARRAY)

# --- SenML (RFC 8428 section 5; JSON as printed in the RFC, on a native device's topic) -----
# ``series`` is the resolved name (bn + n); times are resolved (bt + t).

_RFC8428 = "https://www.rfc-editor.org/rfc/rfc8428#section-5.1"

SENML_SINGLE = Payload(
    kind="native",
    topic="{name}/senml",
    payload=b'[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]',
    source=_RFC8428 + ".1",  # 5.1.1 Single Data Point
    readings=(Reading("urn:dev:ow:10e2073a01080063", 23.1, unit="Cel"),),
)

SENML_MULTIPLE = Payload(
    kind="native",
    topic="{name}/senml",
    payload=(
        b'[{"bn":"urn:dev:ow:10e2073a01080063:","n":"voltage","u":"V","v":120.1},'
        b'{"n":"current","u":"A","v":1.2}]'
    ),
    source=_RFC8428 + ".2",  # 5.1.2 Multiple Data Points, first example
    readings=(
        Reading("urn:dev:ow:10e2073a01080063:voltage", 120.1, unit="V"),
        Reading("urn:dev:ow:10e2073a01080063:current", 1.2, unit="A"),
    ),
)

SENML_RELATIVE_TIMES = Payload(
    kind="native",
    topic="{name}/senml",
    payload=(
        b'[{"bn":"urn:dev:ow:10e2073a0108006:","bt":1.276020076001e+09,'
        b'"bu":"A","bver":5,'
        b'"n":"voltage","u":"V","v":120.1},'
        b'{"n":"current","t":-5,"v":1.2},'
        b'{"n":"current","t":-4,"v":1.3},'
        b'{"n":"current","t":-3,"v":1.4},'
        b'{"n":"current","t":-2,"v":1.5},'
        b'{"n":"current","t":-1,"v":1.6},'
        b'{"n":"current","v":1.7}]'
    ),
    # 5.1.2, second example: "current at Tue Jun 8 18:01:16.001 UTC 2010 and at each second
    # for the previous 5 seconds" (the RFC's base name really is ...0108006:)
    source=_RFC8428 + ".2",
    readings=(
        Reading("urn:dev:ow:10e2073a0108006:voltage", 120.1, unit="V"),
        Reading("urn:dev:ow:10e2073a0108006:current", 1.2, unit="A"),  # bt - 5 s
        Reading("urn:dev:ow:10e2073a0108006:current", 1.3, unit="A"),  # bt - 4 s
        Reading("urn:dev:ow:10e2073a0108006:current", 1.4, unit="A"),
        Reading("urn:dev:ow:10e2073a0108006:current", 1.5, unit="A"),
        Reading("urn:dev:ow:10e2073a0108006:current", 1.6, unit="A"),
        Reading("urn:dev:ow:10e2073a0108006:current", 1.7, unit="A"),  # bt
    ),
    time=1276020076.001,  # bt: 2010-06-08T18:01:16.001Z; the currents at bt-5 ... bt
    note="bu (base unit) gives the currents their unit A",
)

SENML_MULTIPLE_MEASUREMENTS = Payload(
    kind="native",
    topic="{name}/senml",
    payload=(
        b'[{"bn":"urn:dev:ow:10e2073a01080063","bt":1.320067464e+09,'
        b'"bu":"%RH","v":20},'
        b'{"u":"lon","v":24.30621},'
        b'{"u":"lat","v":60.07965},'
        b'{"t":60,"v":20.3},'
        b'{"u":"lon","t":60,"v":24.30622},'
        b'{"u":"lat","t":60,"v":60.07965},'
        b'{"t":120,"v":20.7},'
        b'{"u":"lon","t":120,"v":24.30623},'
        b'{"u":"lat","t":120,"v":60.07966},'
        b'{"u":"%EL","t":150,"v":98},'
        b'{"t":180,"v":21.2},'
        b'{"u":"lon","t":180,"v":24.30628},'
        b'{"u":"lat","t":180,"v":60.07967}]'
    ),
    # 5.1.3 Multiple Measurements: humidity, position and battery of a mobile device; one
    # name, the unit tells the quantities apart (resolved form in 5.1.4)
    source=_RFC8428 + ".3",
    readings=(
        Reading("urn:dev:ow:10e2073a01080063", 20.0, unit="%RH"),
        Reading("urn:dev:ow:10e2073a01080063", 24.30621, unit="lon"),
        Reading("urn:dev:ow:10e2073a01080063", 60.07965, unit="lat"),
        Reading("urn:dev:ow:10e2073a01080063", 20.3, unit="%RH"),
        Reading("urn:dev:ow:10e2073a01080063", 24.30622, unit="lon"),
        Reading("urn:dev:ow:10e2073a01080063", 60.07965, unit="lat"),
        Reading("urn:dev:ow:10e2073a01080063", 20.7, unit="%RH"),
        Reading("urn:dev:ow:10e2073a01080063", 24.30623, unit="lon"),
        Reading("urn:dev:ow:10e2073a01080063", 60.07966, unit="lat"),
        Reading("urn:dev:ow:10e2073a01080063", 98.0, unit="%EL"),
        Reading("urn:dev:ow:10e2073a01080063", 21.2, unit="%RH"),
        Reading("urn:dev:ow:10e2073a01080063", 24.30628, unit="lon"),
        Reading("urn:dev:ow:10e2073a01080063", 60.07967, unit="lat"),
    ),
    time=1320067464.0,  # bt: 2011-10-31T13:24:24Z, then +60, +120, +150, +180 s
    note=(
        "DESIGN.md is silent on one name with several units at one time: a series per "
        "name would get humidity, lon and lat at the same instant"
    ),
)

SENML_DATA_TYPES = Payload(
    kind="native",
    topic="{name}/senml",
    payload=(
        b'[{"bn":"urn:dev:ow:10e2073a01080063:","n":"temp","u":"Cel","v":23.1},'
        b'{"n":"label","vs":"Machine Room"},'
        b'{"n":"open","vb":false},'
        b'{"n":"nfc-reader","vd":"aGkgCg"}]'
    ),
    source=_RFC8428 + ".5",  # 5.1.5 Multiple Data Types
    readings=(
        Reading("urn:dev:ow:10e2073a01080063:temp", 23.1, unit="Cel"),
        Reading("urn:dev:ow:10e2073a01080063:label", text="Machine Room"),
        Reading("urn:dev:ow:10e2073a01080063:open", 0.0),
    ),
    skipped=1,
    note="vd (a data value, base64) is not among DESIGN.md's v/vs/vb: skipped and counted",
)

SENML_COLLECTION = Payload(
    kind="native",
    topic="{name}/senml",
    payload=(
        b'[{"bn":"2001:db8::2/","bt":1.320078429e+09,'
        b'"n":"temperature","u":"Cel","v":25.2},'
        b'{"n":"humidity","u":"%RH","v":30},'
        b'{"bn":"2001:db8::1/","n":"temperature","u":"Cel","v":12.3},'
        b'{"n":"humidity","u":"%RH","v":67}]'
    ),
    # 5.1.6 Collection of Resources: "the last record would use the Base Name from the 3rd
    # record but the Base Time from the first record"
    source=_RFC8428 + ".6",
    readings=(
        Reading("2001:db8::2/temperature", 25.2, unit="Cel"),
        Reading("2001:db8::2/humidity", 30.0, unit="%RH"),
        Reading("2001:db8::1/temperature", 12.3, unit="Cel"),
        Reading("2001:db8::1/humidity", 67.0, unit="%RH"),
    ),
    time=1320078429.0,
    note="the resolved names hold '/', which a series may not: how they map is undecided",
)

SENML = (
    SENML_SINGLE,
    SENML_MULTIPLE,
    SENML_RELATIVE_TIMES,
    SENML_MULTIPLE_MEASUREMENTS,
    SENML_DATA_TYPES,
    SENML_COLLECTION,
)

# --- InfluxDB line protocol / Telegraf's MQTT output (native device) -------------------------
# Telegraf's outputs.mqtt publishes to <topic_prefix>/<hostname>/<pluginname>
# (https://github.com/influxdata/telegraf/blob/master/plugins/outputs/mqtt/README.md), data
# format "influx" by default; topic_prefix = the device name. ``series`` here is
# <measurement>.<field>; tags are kept beside the reading (``note``).

LINE_PROTOCOL_TELEGRAF_SYSTEM = Payload(
    kind="native",
    topic="{name}/tyrion/system",
    payload=(
        b"system,host=tyrion load1=3.72,load5=2.4,load15=2.1,n_users=3i,n_cpus=4i "
        b"1483964144000000000\n"
        b"system,host=tyrion uptime=1249632i 1483964144000000000\n"
        b'system,host=tyrion uptime_format="14 days, 11:07" 1483964144000000000\n'
    ),
    # inputs.system "Example Output" (three lines, one batch: outputs.mqtt batch = true)
    source="https://github.com/influxdata/telegraf/blob/master/plugins/inputs/system/README.md#example-output",
    readings=(
        Reading("system.load1", 3.72),
        Reading("system.load5", 2.4),
        Reading("system.load15", 2.1),
        Reading("system.n_users", 3.0),
        Reading("system.n_cpus", 4.0),
        Reading("system.uptime", 1249632.0),
        Reading("system.uptime_format", text="14 days, 11:07"),
    ),
    time="2017-01-09T12:15:44+00:00",  # 1483964144000000000 ns
    note="every line carries the tag host=tyrion",
)

LINE_PROTOCOL_DATA_TYPES = Payload(
    kind="native",
    topic="{name}/lp/types",
    payload=(
        b"# This is a comment\n"
        b'myMeasurement,tag1=value1,tag2=value2 fieldKey="fieldValue" 1556813561098000000\n'
        b"myMeasurement,tag\\ Key1=tag\\ Value1 intKey=12485903i 1556813561099000000\n"
        b"myMeasurement uintKey=12485903u 1556813561100000000\n"
        b"myMeasurement floatKey=-1.234456e+78 1556813561101000000\n"
        b"myMeasurement boolKey=true 1556813561102000000\n"
        b"myMeasurement boolKey=FALSE 1556813561103000000\n"
        b'myMeasurement quoteKey="\\"string\\" within a string" 1556813561104000000\n'
    ),
    source="https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/",
    readings=(
        Reading("myMeasurement.fieldKey", text="fieldValue"),
        Reading("myMeasurement.intKey", 12485903.0),
        Reading("myMeasurement.uintKey", 12485903.0),
        Reading("myMeasurement.floatKey", -1.234456e78),
        Reading("myMeasurement.boolKey", 1.0),
        Reading("myMeasurement.boolKey", 0.0),
        Reading("myMeasurement.quoteKey", text='"string" within a string'),
    ),
    time="2019-05-02T16:12:41.098000+00:00",  # first line; each next line 1 ms later
    note=(
        "composed from the page's examples (syntax, integer, uinteger, float, boolean, "
        "escaped quotes, tag with spaces, comment), one per line; the timestamps are the "
        "page's 1556813561098000000, 1 ms apart so that no two lines share an instant"
    ),
)

LINE_PROTOCOL = (LINE_PROTOCOL_TELEGRAF_SYSTEM, LINE_PROTOCOL_DATA_TYPES)

# --- Sparkplug B (protobuf, Eclipse Tahu sparkplug_b.proto) ---------------------------------
# spBv1.0/<group>/<type>/<edge node = name>[/<device>]. The specification
# (https://sparkplug.eclipse.org/specification/version/3.0/documents/sparkplug-specification-3.0.0.pdf):
# NBIRTH has seq 0, a bdSeq metric and "Node Control/Rebirth"; NDEATH (the will) carries the
# same bdSeq and no seq; DATA may carry aliases only; seq runs 0..255. Metric names, values
# and times below are ours, modelled on the specification's examples.

_SPB = "https://sparkplug.eclipse.org/specification/version/3.0/documents/sparkplug-specification-3.0.0.pdf"

SPARKPLUG_NBIRTH = SparkplugMessage(
    topic="spBv1.0/plant/NBIRTH/{name}",
    timestamp_ms=1700000000000,
    seq=0,
    metrics=(
        ("bdSeq", None, "Int64", 0),
        ("Node Control/Rebirth", None, "Boolean", False),
        ("Properties/Hardware Make", 1, "String", "Raspberry Pi"),
        ("Supply Voltage", 2, "Double", 12.1),
        ("Inputs/Door", 3, "Boolean", True),
    ),
    source=_SPB,
    readings=(
        Reading("{name}.Properties.Hardware Make", text="Raspberry Pi"),
        Reading("{name}.Supply Voltage", 12.1),
        Reading("{name}.Inputs.Door", 1.0),
    ),
    online=True,
    note="bdSeq and Node Control/Rebirth are session metadata: not asserted as series",
)

SPARKPLUG_NDATA = SparkplugMessage(
    topic="spBv1.0/plant/NDATA/{name}",
    timestamp_ms=1700000001000,
    seq=1,
    metrics=((None, 2, "Double", 12.3), (None, 3, "Boolean", False)),
    source=_SPB,
    datatypes=False,
    readings=(Reading("{name}.Supply Voltage", 12.3), Reading("{name}.Inputs.Door", 0.0)),
)

SPARKPLUG_DBIRTH = SparkplugMessage(
    topic="spBv1.0/plant/DBIRTH/{name}/pump1",
    timestamp_ms=1700000002000,
    seq=2,
    metrics=(("Outputs/Speed", 10, "Int32", 1450), ("Outputs/Running", 11, "Boolean", True)),
    source=_SPB,
    readings=(
        Reading("{name}.pump1.Outputs.Speed", 1450.0),
        Reading("{name}.pump1.Outputs.Running", 1.0),
    ),
    online=True,
)

SPARKPLUG_DDATA = SparkplugMessage(
    topic="spBv1.0/plant/DDATA/{name}/pump1",
    timestamp_ms=1700000003000,
    seq=3,
    metrics=((None, 10, "Int32", 1500),),
    source=_SPB,
    datatypes=False,
    readings=(Reading("{name}.pump1.Outputs.Speed", 1500.0),),
)

SPARKPLUG_NDATA_UNKNOWN_ALIAS = SparkplugMessage(
    topic="spBv1.0/plant/NDATA/{name}",
    timestamp_ms=1700000004000,
    seq=4,
    metrics=((None, 99, "Double", 1.0),),
    source=_SPB,
    datatypes=False,
    note="alias 99 was never born: a dead letter (DESIGN.md, 'an unknown Sparkplug alias')",
)

SPARKPLUG_DDEATH = SparkplugMessage(
    topic="spBv1.0/plant/DDEATH/{name}/pump1",
    timestamp_ms=1700000005000,
    seq=5,
    metrics=(),
    source=_SPB,
    online=False,
)

SPARKPLUG_NDEATH = SparkplugMessage(
    topic="spBv1.0/plant/NDEATH/{name}",
    timestamp_ms=1700000006000,
    seq=None,
    metrics=(("bdSeq", None, "Int64", 0),),
    source=_SPB,
    online=False,
    note="the edge node's will: same bdSeq as its NBIRTH, no seq",
)

SPARKPLUG = (
    SPARKPLUG_NBIRTH,
    SPARKPLUG_NDATA,
    SPARKPLUG_DBIRTH,
    SPARKPLUG_DDATA,
    SPARKPLUG_NDATA_UNKNOWN_ALIAS,
    SPARKPLUG_DDEATH,
    SPARKPLUG_NDEATH,
)

# --- Availability --------------------------------------------------------------------------

AVAILABILITY = (
    Availability(
        "native", "{name}/status", b"online", True, "DESIGN.md, Devices and MQTT", retain=True
    ),
    Availability(
        "native", "{name}/status", b"offline", False, "DESIGN.md, Devices and MQTT", True, True
    ),
    # Tasmota: "Published with Online on connection", the broker publishes Offline (retained)
    Availability(
        "tasmota",
        "tele/{name}/LWT",
        b"Online",
        True,
        "https://tasmota.github.io/docs/DeepSleep/ (subscribe to tele/%topic%/LWT for Online)",
        retain=True,
    ),
    Availability(
        "tasmota",
        "tele/{name}/LWT",
        b"Offline",
        False,
        "https://tasmota.github.io/docs/DeepSleep/ ('First, send MQTT offline ... LWT = Offline')",
        retain=True,
        will=True,
    ),
    # ESPHome: "a retained MQTT message to <TOPIC_PREFIX>/status with payload online", the will
    # "<TOPIC_PREFIX>/status with payload offline if the connection drops"
    Availability(
        "esphome",
        "{name}/status",
        b"online",
        True,
        "https://esphome.io/components/mqtt.html#last-will-and-birth-messages",
        retain=True,
    ),
    Availability(
        "esphome",
        "{name}/status",
        b"offline",
        False,
        "https://esphome.io/components/mqtt.html#last-will-and-birth-messages",
        retain=True,
        will=True,
    ),
    # Shelly Gen1: "availability message on shellies/<id>/online with payload true"; "Default
    # LWT topic and message are shellies/<id>/online, false" (retained only if configured)
    Availability(
        "shelly",
        "shellies/{name}/online",
        b"true",
        True,
        "https://shelly-api-docs.shelly.cloud/gen1/#availability-and-announces",
    ),
    Availability(
        "shelly",
        "shellies/{name}/online",
        b"false",
        False,
        "https://shelly-api-docs.shelly.cloud/gen1/#availability-and-announces",
        will=True,
    ),
    # Shelly Gen2: <topic_prefix>/online, true on connect, false as its will
    Availability(
        "shelly",
        "{name}/online",
        b"true",
        True,
        "https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Mqtt",
        note="the Gen2 page names the topic; true/false as Gen1 and DESIGN.md's table",
    ),
    Availability(
        "shelly",
        "{name}/online",
        b"false",
        False,
        "https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Mqtt",
        will=True,
    ),
    # Zigbee2MQTT: bridge/state "is published as retained"; legacy payloads online/offline,
    # JSON {"state":"online"}/{"state":"offline"} with legacy_availability_payload: false
    # (the only form since Zigbee2MQTT 2.0)
    Availability(
        "zigbee2mqtt",
        "{name}/bridge/state",
        b'{"state":"online"}',
        True,
        "https://www.zigbee2mqtt.io/guide/configuration/device-availability.html#availability-payload",
        retain=True,
    ),
    Availability(
        "zigbee2mqtt",
        "{name}/bridge/state",
        b'{"state":"offline"}',
        False,
        "https://www.zigbee2mqtt.io/guide/configuration/device-availability.html#availability-payload",
        retain=True,
        will=True,
    ),
    Availability(
        "zigbee2mqtt",
        "{name}/bridge/state",
        b"online",
        True,
        _Z2M + "#zigbee2mqtt-bridge-state",
        retain=True,
        note="legacy payload",
    ),
    Availability(
        "zigbee2mqtt",
        "{name}/bridge/state",
        b"offline",
        False,
        _Z2M + "#zigbee2mqtt-bridge-state",
        retain=True,
        note="legacy payload",
    ),
    # An end device (availability enabled): "published to zigbee2mqtt/[FRIENDLY_NAME]/
    # availability (this message is a retained MQTT message)"
    Availability(
        "zigbee2mqtt",
        "{name}/living room/sensor/availability",
        b'{"state":"offline"}',
        False,
        "https://www.zigbee2mqtt.io/guide/configuration/device-availability.html",
        retain=True,
        note="the end device's availability (the bridge stays online)",
    ),
    Availability(
        "zigbee2mqtt",
        "{name}/desk lamp/availability",
        b"online",
        True,
        "https://www.zigbee2mqtt.io/guide/configuration/device-availability.html",
        retain=True,
        note="legacy payload; the end device's availability",
    ),
    # OwnTracks: "A last will and testament is published automatically by the MQTT broker
    # when it loses contact with the app"; tst = when the app first connected
    Availability(
        "owntracks",
        "owntracks/{name}/phone",
        b'{"_type":"lwt","tst":1610748273}',
        False,
        "https://owntracks.org/booklet/tech/json/#_typelwt",
        will=True,
        note="composed from the booklet's description (tst our value)",
    ),
)

# --- Ignored: metadata and commands --------------------------------------------------------

IGNORED = (
    Ignored("native", "{name}/relay/set", b"ON", "DESIGN.md, Ingest", "a command (.../set)"),
    Ignored("native", "{name}/relay/get", b"", "DESIGN.md, Ingest", "a command (.../get)"),
    Ignored(
        "tasmota",
        "cmnd/{name}/POWER",
        b"TOGGLE",
        "https://tasmota.github.io/docs/MQTT/#command-flow",
        "a command (cmnd/...)",
    ),
    Ignored(
        "tasmota",
        "cmnd/{name}/Power",
        b"",
        "https://tasmota.github.io/docs/MQTT/#command-flow",
        "a command: an empty payload is a status query",
    ),
    Ignored(
        "tasmota",
        "tele/{name}/INFO3",
        b'{"RestartReason":"Deep-Sleep Wake"}',
        "https://tasmota.github.io/docs/DeepSleep/",
        "device information at boot (INFO1..3), not readings",
    ),
    Ignored(
        "esphome",
        "{name}/light/x/command",
        b'{"state":"ON","brightness":255}',
        "https://esphome.io/components/mqtt.html#mqtt-component-base-configuration",
        "a command (<prefix>/<component>/<name>/command); payload: the JSON light schema",
    ),
    Ignored(
        "esphome",
        "{name}/switch/relay/command",
        b"ON",
        "https://esphome.io/components/mqtt.html#mqtt-component-base-configuration",
        "a command",
    ),
    Ignored(
        "esphome",
        "homeassistant/sensor/{name}/temperature/config",
        (
            b'{"dev_cla":"temperature","unit_of_meas":"\xc2\xb0C","stat_cla":"measurement",'
            b'"name":"Temperature","stat_t":"livingroom/sensor/temperature/state",'
            b'"avty_t":"livingroom/status","uniq_id":"ESPsensortemperature",'
            b'"dev":{"ids":"a1b2c3d4e5f6","name":"livingroom","sw":"esphome v2024.6.1",'
            b'"mdl":"esp32dev","mf":"espressif"}}'
        ),
        "https://esphome.io/components/mqtt.html (discovery, discovery_retain defaults true)",
        "Home Assistant discovery (retained metadata); payload illustrative, abbreviated keys",
    ),
    Ignored(
        "shelly",
        "shellies/{name}/announce",
        (
            b'{"id":"shelly1pm-B929CC","model":"SHSW-PM","mac":"C45BBEB929CC",'
            b'"ip":"192.168.1.42","new_fw":false,"fw_ver":"20230913-112003/v1.14.0-gcb84623"}'
        ),
        "https://shelly-api-docs.shelly.cloud/gen1/#availability-and-announces",
        "metadata: attributes id, mode (if applicable), model, mac, ip, new_fw, fw_ver; "
        "values ours (the id is the docs' example MQTT id)",
    ),
    Ignored(
        "shelly",
        "shellies/{name}/relay/0/command",
        b"toggle",
        "https://shelly-api-docs.shelly.cloud/gen1/#shelly1-1pm-mqtt",
        "a command (accepts on, off or toggle)",
    ),
    Ignored(
        "shelly",
        "{name}/events/rpc",
        (
            b'{"src":"shellypro4pm-f008d1d8b8b8","dst":"user_1","method":"NotifyEvent",'
            b'"params":{"ts":1631266595.44,"events":[{"component":"input:0","id":0,'
            b'"event":"single_push","ts":1631266595.44}]}}'
        ),
        "https://shelly-api-docs.shelly.cloud/gen2/General/Notifications#notifyevent",
        "guess: NotifyEvent (an event, not a status) is not a reading; values ours",
    ),
    Ignored(
        "zigbee2mqtt",
        "{name}/bridge/info",
        (
            b'{"version":"1.13.0-dev","commit":"772f6c0","coordinator":{"ieee_address":'
            b'"0x12345678","type":"zStack30x","meta":{"revision":20190425,"transportrev":2,'
            b'"product":2,"majorrel":2,"minorrel":7,"maintrel":2}},"network":{"channel":15,'
            b'"pan_id":5674,"extended_pan_id":[0,11,22]},"log_level":"debug",'
            b'"permit_join":true,"permit_join_timeout":10,"config":{},"config_schema":{},'
            b'"restart_required":false}'
        ),
        _Z2M + "#zigbee2mqtt-bridge-info",
        "metadata (retained); the docs' example without its // comments, {...} as {}",
    ),
    Ignored(
        "zigbee2mqtt",
        "{name}/bridge/devices",
        (
            b'[{"ieee_address":"0x00158d00018255df","type":"Router","network_address":29159,'
            b'"supported":true,"friendly_name":"my_plug","endpoints":{"1":{"bindings":[],'
            b'"configured_reportings":[],"clusters":{"input":["genOnOff","genBasic"],'
            b'"output":[]}}},"definition":{"model":"ZNCZ02LM","vendor":"Xiaomi",'
            b'"description":"Mi power plug ZigBee","options":[],"exposes":[]},'
            b'"power_source":"Mains (single phase)","date_code":"02-28-2017",'
            b'"model_id":"lumi.plug","scenes":[{"id":3,"name":"Chill scene"}],'
            b'"interviewing":false,"interview_completed":true}]'
        ),
        _Z2M + "#zigbee2mqtt-bridge-devices",
        "metadata (retained); the docs' first device, options/exposes [...] as []",
    ),
    Ignored(
        "zigbee2mqtt",
        "{name}/bridge/logging",
        b'{"level": "info", "message": "Zigbee: allowing new devices to join."}',
        _Z2M + "#zigbee2mqtt-bridge-logging",
        "metadata (the bridge's log)",
    ),
    Ignored(
        "zigbee2mqtt",
        "{name}/bridge/event",
        (
            b'{"type":"device_joined","data":{"friendly_name":"0x90fd9ffffe6494fc",'
            b'"ieee_address":"0x90fd9ffffe6494fc"}}'
        ),
        _Z2M + "#zigbee2mqtt-bridge-event",
        "metadata (network events)",
    ),
    Ignored(
        "zigbee2mqtt",
        "{name}/bridge/response/permit_join",
        b'{"data":{"value":true},"status":"ok"}',
        _Z2M + "#zigbee2mqtt-bridge-request",
        "metadata (a response to a request)",
    ),
    Ignored(
        "zigbee2mqtt",
        "{name}/living room/sensor/set",
        b'{ "state": "ON" }',
        _Z2M + "#zigbee2mqtt-friendly-name-set",
        "a command (.../set; the docs' mosquitto_pub example payload)",
    ),
    Ignored(
        "zigbee2mqtt",
        "{name}/desk lamp/set/state",
        b"ON",
        _Z2M + "#without-json",
        "a command (.../set/<attribute>)",
    ),
    Ignored(
        "zigbee2mqtt",
        "{name}/desk lamp/get",
        b'{"state": ""}',
        _Z2M + "#zigbee2mqtt-friendly-name-get",
        "a command (.../get)",
    ),
    Ignored(
        "owntracks",
        "owntracks/{name}/phone/cmd",
        b'{"_type":"cmd","action":"reportLocation"}',
        "https://owntracks.org/booklet/tech/json/#_typecmd",
        "a command (the app subscribes to it)",
    ),
    Ignored(
        "owntracks",
        "owntracks/{name}/phone/event",
        (
            b'{"_type":"transition","wtst":1610748000,"lat":51.2,"lon":-4,"tst":1610799026,'
            b'"acc":20,"tid":"aa","event":"enter","desc":"Home","t":"c"}'
        ),
        "https://owntracks.org/booklet/tech/json/#_typetransition",
        "an enter/leave event, not a location; composed from the booklet's elements",
    ),
    Ignored(
        "owntracks",
        "owntracks/{name}/phone/info",
        b'{"_type":"card","name":"Jane","tid":"aa"}',
        "https://owntracks.org/booklet/tech/json/#_typecard",
        "metadata (a card); composed from the booklet's elements",
    ),
)

ALL_PAYLOADS: tuple[Payload, ...] = (
    *TASMOTA,
    *ESPHOME,
    *SHELLY,
    *ZIGBEE2MQTT,
    *OWNTRACKS,
    *THINGSBOARD,
    *SENML,
    *LINE_PROTOCOL,
)

BY_KIND: dict[str, tuple[Payload, ...]] = {
    kind: tuple(p for p in ALL_PAYLOADS if p.kind == kind)
    for kind in ("native", "tasmota", "esphome", "shelly", "zigbee2mqtt", "owntracks")
}
