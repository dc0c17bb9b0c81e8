"""Payload formats (DESIGN.md, "Devices and MQTT"): one module per shape, recognised by shape
on every layout. ``values`` holds the rules every format shares (booleans, skips, times)."""
