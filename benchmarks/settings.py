"""Settings of the telemetry benchmark's server: iotserver's, plus a bare constant endpoint.

Everything else (middleware, authentication, permissions, renderers, cache, databases) is
exactly ``iotserver.settings`` read from the same environment, so the two endpoints that
``benchmarks.telemetry_bench`` compares run in one server with one configuration.
"""

from iotserver.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls"
