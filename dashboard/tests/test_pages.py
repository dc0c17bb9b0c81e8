"""The page shells as the server sends them: served by the `all` role, locked down by a
Content-Security-Policy, holding no user data, and loading the chart library from npm."""

from __future__ import annotations

import importlib
import re

import pytest
from django.contrib.staticfiles import finders
from django.core.checks import run_checks
from django.urls import clear_url_caches

from dashboard.tests.support import PAGES, RESTRICTED_PAGES

RESTRICTED = "Restricted area, please login!"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_is_served_with_a_strict_content_security_policy(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    nonce = re.search(r"'nonce-([^']+)'", policy)[1]
    html = response.content.decode()
    # The only inline script is the import map, and it carries this response's nonce.
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline == [f' type="importmap" nonce="{nonce}"']
    assert response["Cache-Control"] == "no-store"


def test_each_response_gets_its_own_nonce(client):
    first = client.get("/")["Content-Security-Policy"]
    second = client.get("/")["Content-Security-Policy"]
    assert first != second


@pytest.mark.parametrize("path", RESTRICTED_PAGES)
def test_restricted_pages_carry_the_restricted_notice_and_hide_their_content(client, path):
    html = client.get(path).content.decode()
    assert RESTRICTED in html
    assert f'href="/login?next={path}"' in html
    assert re.search(r'<div id="content" hidden>', html)


def test_the_devices_page_names_the_public_broker_without_any_credentials(client, settings):
    settings.MQTT_URL = "mqtts://ingest:s3cret@internal-broker:8883"
    settings.MQTT_PUBLIC_URL = "mqtts://broker.example.org:8883"
    html = client.get("/dashboard/devices").content.decode()
    assert 'data-mqtt-host="broker.example.org"' in html
    assert 'data-mqtt-port="8883"' in html
    assert 'data-mqtt-tls="true"' in html
    assert "s3cret" not in html and "ingest:" not in html and "internal-broker" not in html


def test_uplot_comes_from_node_modules_through_staticfiles():
    found = finders.find("vendor/uplot/uPlot.esm.js")
    assert found and "node_modules" in found


def test_a_missing_chart_library_is_reported_by_a_system_check(settings, tmp_path):
    settings.BASE_DIR = tmp_path
    warnings = [m for m in run_checks() if m.id == "dashboard.W001"]
    assert warnings and "npm ci" in warnings[0].hint


@pytest.fixture
def role_urls(settings):
    """Reload the URLconf under another IOTSERVER_ROLE; restore it afterwards."""
    import iotserver.urls

    original = settings.IOTSERVER_ROLE

    def load(role: str) -> None:
        settings.IOTSERVER_ROLE = role
        settings.SERVES_AUTH = role in ("all", "auth")
        settings.SERVES_TELEMETRY = role in ("all", "telemetry")
        importlib.reload(iotserver.urls)
        clear_url_caches()

    yield load
    load(original)


@pytest.mark.parametrize("role", ["auth", "telemetry"])
def test_only_the_all_role_serves_the_dashboard(client, role_urls, role):
    role_urls(role)
    for path in PAGES:
        assert client.get(path).status_code == 404, path


def test_the_devices_form_offers_every_kind_with_native_first_and_a_utc_zone(client):
    from telemetry.layouts import LAYOUTS

    html = client.get("/dashboard/devices").content.decode()
    kinds = re.findall(r'<option value="([^"]+)"', html)
    assert kinds[0] == "native" and sorted(kinds) == sorted(LAYOUTS)
    assert re.search(r'<input id="device-form-tz" name="tz" type="text" value="UTC"', html)
