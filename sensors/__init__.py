"""Device-side publishers: plain Python + paho-mqtt, no Django, so they run on the device.

``python -m sensors raspberrypi`` (temperature + humidity) or ``python -m sensors edison``
(temperature + potentiometer) publish ``<device>/<metric>`` readings at QoS 1 as
``{"value": ..., "ts": <epoch seconds>, "seq": <per-device sequence>}``.
"""
