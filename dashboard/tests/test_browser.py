"""The dashboard as a person uses it, in headless Chromium: register, log in, watch a chart
gain points while a publisher runs, download CSV, add and delete a device, sign out and be
refused, and see the status page turn red when the broker stops."""

from __future__ import annotations

import csv
import threading
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import expect

from dashboard.tests.support import PHONE, PUBLIC_PAGES, RESTRICTED_PAGES, wait_until
from ingest.consumer import IngestOptions, MqttIngester
from ingest.tests.test_broker_auth import SecuredBroker
from sensors.publisher import DevicePublisher, PublisherOptions
from telemetry.models import Device

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery-42"
RESTRICTED = "Restricted area, please login!"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_user(*, username: str) -> str:
    email = f"{username}@example.com"
    get_user_model().objects.create_user(email=email, username=username, password=PASSWORD)
    return email


def log_in(ui, *, email: str, path: str = "/login"):
    page = ui.open(path)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard*")
    page.wait_for_selector("body[data-auth=signed-in]")
    return page


def points(page, topic: str) -> int:
    value = page.locator(f'.chart-card[data-topic="{topic}"]').get_attribute("data-points")
    return int(value or 0)


class LiveDevice:
    """A Raspberry Pi publisher thread and an ingester whose batches the test commits."""

    def __init__(self, *, broker_url: str, name: str, ingest_url: str | None = None) -> None:
        self.stop = threading.Event()
        self.publisher = DevicePublisher(
            options=PublisherOptions(
                broker_url=broker_url,
                kind="raspberrypi",
                name=name,
                rate=5,
                client_id=unique("pub"),
            ),
            stop_event=self.stop,
        )
        self.ingester = MqttIngester(
            options=IngestOptions(
                broker_url=ingest_url or broker_url,
                client_id=unique("ingest"),
                topic_filter=f"{name}/#",
                max_wait=0.05,
                writers=0,  # commit in pump(), in the test's thread
            )
        )
        self.thread = threading.Thread(target=self.publisher.run, daemon=True)

    def __enter__(self) -> LiveDevice:
        self.ingester.start()
        assert self.ingester.connected.wait(10), "ingester did not connect"
        self.thread.start()
        return self

    def pump(self) -> None:
        # Batches are committed here, in the test's thread: on SQLite the live server shares
        # this thread's in-memory database connection.
        self.ingester.step(timeout=0.2)

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.ingester.drain()
        self.ingester.close()


@pytest.fixture
def secured(tmp_path):
    """The shipped, authenticated broker. Its accounts are synced in the test's thread: on
    SQLite the live server shares this thread's in-memory database, which the loop's own
    thread would lock against (ingest/tests/test_broker_auth.py tests the loop itself)."""
    broker = SecuredBroker(tmp_path / "broker", watch=False)
    yield broker
    broker.close()


def test_a_visitor_registers_adds_a_device_watches_it_live_downloads_csv_and_signs_out(
    ui, secured, tmp_path, settings
):
    # The device logs in with the credentials the page shows, on a broker refusing the rest.
    settings.MQTT_PUBLIC_URL = f"mqtt://127.0.0.1:{secured.port}"
    username = unique("ana")
    device = unique("pi")

    # Restricted until signed in.
    page = ui.open("/dashboard")
    assert page.get_by_role("heading", name=RESTRICTED).is_visible()
    assert not page.locator("#content").is_visible()

    # Register: a refused password is explained under its field.
    ui.console.allow(r"status of 400")
    page = ui.open("/register")
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("12345")
    page.get_by_role("button", name="Register").click()
    error = page.locator("#register-password-error")
    error.wait_for()
    assert "too short" in error.inner_text()
    assert page.get_by_label("Password").get_attribute("aria-invalid") == "true"
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Register").click()
    page.wait_for_url("**/dashboard")
    page.wait_for_selector("body[data-auth=signed-in]")
    expect(page.locator("#whoami")).to_have_text(username)
    expect(page.get_by_text("No devices yet")).to_be_visible()

    # Add a device: its MQTT login is shown once, with a mosquitto_pub example.
    page = ui.open("/dashboard/devices")
    page.get_by_label("Device name").fill(device)
    page.get_by_role("button", name="Add device").click()
    page.locator("#credentials").wait_for()
    password = page.locator("#credential-password").inner_text()
    example = page.locator("#credential-example").inner_text()
    assert len(password) >= 16
    assert "mosquitto_pub" in example
    assert f"-p {secured.port}" in example
    assert f"-u '{device}'" in example and f"-P '{password}'" in example
    assert f"{device}/temp" in example
    expect(page.locator(f'[data-device="{device}"]')).to_be_visible()
    expect(page.locator(f'[data-device="{device}"] .device-state')).to_have_text("offline")
    owner = get_user_model().objects.get(username=username)
    assert Device.objects.get(name=device).owner_id == owner.id
    page.reload()
    page.wait_for_selector("body[data-ready=true]", state="attached")
    assert password not in page.content(), "the MQTT password must be shown only once"

    # Readings arrive while the dashboard is open: the chart gains points without a reload.
    topic = f"{device}.temp"
    secured.sync()
    login = f"mqtt://{device}:{password}@127.0.0.1:{secured.port}"
    with LiveDevice(broker_url=login, name=device, ingest_url=secured.ingest_url) as live:
        page = ui.open("/dashboard")
        wait_until(
            lambda: page.locator(f'.chart-card[data-topic="{topic}"]').count() == 1
            and points(page, topic) > 0,
            pump=live.pump,
            message=f"a chart of {topic} with points",
        )
        before = points(page, topic)
        wait_until(
            lambda: points(page, topic) >= before + 5,
            pump=live.pump,
            message="the chart to gain points",
        )
        row = page.locator(f'#device-table tr[data-topic="{topic}"]')
        assert row.locator(".value-cell").inner_text() not in ("", "–")
        assert "ago" in row.locator(".age-cell").inner_text()
        assert page.locator(".chart-card .uplot").count() >= 2  # temp and humidity
        shown = points(page, topic)

        # CSV of the range, fetched with the bearer token (never in the URL).
        with page.expect_download() as download:
            page.locator(f'.chart-card[data-topic="{topic}"] .csv').click()
        path = tmp_path / "readings.csv"
        download.value.save_as(path)
        rows = list(csv.reader(path.open()))
        assert rows[0] == ["date", "value"]
        assert len(rows) - 1 >= shown
        assert all(float(value) > -50 for _, value in rows[1:])

    # A long range is drawn from bucketed aggregates.
    page.get_by_text("Last week").click()
    wait_until(
        lambda: "buckets"
        in page.locator(f'.chart-card[data-topic="{topic}"] .points').inner_text(),
        message="bucketed week view",
    )

    # The refresh token stays out of reach of page scripts; no token ever travels in a URL.
    cookies = {c["name"]: c for c in ui.context.cookies()}
    refresh = cookies["iot_refresh"]
    assert refresh["httpOnly"] and refresh["sameSite"] == "Strict"
    assert "iot_refresh" not in page.evaluate("document.cookie")
    storage = page.evaluate("JSON.stringify({...localStorage, ...sessionStorage})")
    assert "eyJ" not in storage
    assert not [url for url in ui.console.urls if "eyJ" in url]

    # Readings brought the device online; then delete it.
    page = ui.open("/dashboard/devices")
    expect(page.locator(f'[data-device="{device}"] .device-state')).to_have_text("online")
    page.get_by_role("button", name=f"Delete {device}").click()
    page.get_by_role("button", name="Delete device").click()
    page.locator(f'[data-device="{device}"]').wait_for(state="detached")
    assert not Device.objects.filter(name=device).exists()

    # Sign out: the refresh token is revoked, and the dashboard is refused.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login?signed_out=1")
    assert page.get_by_text("You have signed out.").is_visible()
    page = ui.open("/dashboard")
    assert page.get_by_role("heading", name=RESTRICTED).is_visible()
    assert page.get_by_role("link", name="Log in").first.is_visible()
    stolen = Client()
    stolen.cookies["iot_refresh"] = refresh["value"]
    assert stolen.post("/auth/session/refresh").status_code == 401


def test_login_shows_errors_then_returns_to_the_restricted_page(ui):
    email = make_user(username=unique("bo"))
    ui.console.allow(r"status of 401")
    page = ui.open("/dashboard/devices")
    page.locator("#restricted").get_by_role("link", name="Log in").click()
    page.wait_for_url(lambda url: url.endswith("/login?next=/dashboard/devices"))
    page.wait_for_selector("body[data-ready=true]", state="attached")
    page.get_by_role("button", name="Log in").click()
    assert page.locator("#login-email-error").inner_text() == "Enter your email address."
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    page.locator(".form-error").filter(has_text="password").wait_for()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/devices")
    page.wait_for_selector("body[data-auth=signed-in]")
    expect(page.get_by_role("heading", name="Add a device")).to_be_visible()


def test_status_page_turns_red_when_the_broker_stops(ui, mosquitto, settings):
    settings.MQTT_URL = mosquitto.url
    email = make_user(username=unique("cy"))
    log_in(ui, email=email)
    page = ui.open("/dashboard/status")
    broker = page.locator('[data-check="broker"]')
    broker.locator(".state").wait_for()
    assert broker.get_attribute("data-ok") == "true"
    for name in ("database", "cache", "ingester"):
        assert page.locator(f'[data-check="{name}"]').count() == 1
    mosquitto.stop()
    page.wait_for_selector('[data-check="broker"][data-ok="false"]', timeout=20_000)
    expect(broker.locator(".state")).to_have_text("Down")
    expect(page.locator("#status-summary")).to_contain_text("MQTT broker")


def _fits_a_phone(page, path: str) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{path} scrolls sideways on a phone by {overflow}px"
    unlabeled = page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden])')]
             .filter(i => !i.labels.length && !i.getAttribute('aria-label'))
             .map(i => i.id || i.name)"""
    )
    assert unlabeled == [], f"{path} has inputs without a label: {unlabeled}"


def test_every_page_fits_a_phone_screen_signed_out_and_in(open_browser):
    ui = open_browser(viewport=PHONE)
    for path in PUBLIC_PAGES + RESTRICTED_PAGES:
        page = ui.open(path)
        if path in RESTRICTED_PAGES:
            assert page.get_by_role("heading", name=RESTRICTED).is_visible()
        _fits_a_phone(page, path)
    log_in(ui, email=make_user(username=unique("dee")))
    for path in RESTRICTED_PAGES:
        page = ui.open(path)
        page.wait_for_selector("#content:not([hidden])")
        _fits_a_phone(page, path)


def test_firmware_series_names_and_units_on_the_cards_and_devices_page(ui):
    """Series named as firmware names them reach their charts (the page URL-encodes them);
    units show beside the value and on the axis; the Devices page shows online, last seen,
    kind and zone."""
    from datetime import timedelta

    from django.utils import timezone

    from telemetry.records import DeviceEventIn, ReadingIn
    from telemetry.services import reading_bulk_append
    from telemetry.tests.factories import DeviceFactory

    email = make_user(username=unique("eve"))
    owner = get_user_model().objects.get(email=email)
    device = unique("bridge")
    DeviceFactory(name=device, owner_id=owner.id, kind="zigbee2mqtt", tz="Europe/Berlin")
    now = timezone.now()
    names = {
        f"{device}.living room sensor.temperature": "°C",
        f"{device}.switch:0.output": None,
        f"{device}.cpu=cpu0.usage_idle": "%",
        f"{device}.Küche.température": "Cel",
    }
    reading_bulk_append(
        readings=[
            ReadingIn(topic=name, ts=now - timedelta(seconds=30 - s), value=20.0 + s, unit=unit)
            for name, unit in names.items()
            for s in range(3)
        ],
        events=[DeviceEventIn(device=device, online=True, at=now)],
    )

    page = log_in(ui, email=email)
    for name, unit in names.items():
        card = page.locator(f'.chart-card[data-topic="{name}"]')
        wait_until(
            lambda card=card: card.count() == 1
            and (card.get_attribute("data-points") or "0") == "3",
            message=f"chart of {name}",
        )
        if unit:
            assert card.get_attribute("data-unit") == unit
            expect(card.locator(".latest-unit")).to_have_text(unit)
            # the axis label is drawn on the canvas; the chart's accessible name says it too
            assert f" in {unit}:" in card.locator(".chart").get_attribute("aria-label")
            row = page.locator(f'#device-table tr[data-topic="{name}"] .value-cell')
            expect(row).to_have_text(f"22 {unit}")
        else:
            assert card.get_attribute("data-unit") is None
            expect(card.locator(".latest-unit")).to_have_text("")

    page = ui.open("/dashboard/devices")
    item = page.locator(f'[data-device="{device}"]')
    expect(item.locator(".device-state")).to_have_text("online")
    expect(item.locator(".device-meta")).to_have_text("zigbee2mqtt · Europe/Berlin")
    expect(item.locator(".device-seen")).to_contain_text("last reading")

    # Adding a device with its firmware and zone; an unknown zone is explained under the field.
    ui.console.allow(r"status of 400")
    plug = unique("plug")
    page.get_by_label("Device name").fill(plug)
    page.get_by_label("Firmware").select_option("tasmota")
    page.get_by_label("Time zone").fill("Mars/Olympus")
    page.get_by_role("button", name="Add device").click()
    expect(page.locator("#device-form-tz-error")).to_contain_text("Unknown time zone")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_role("button", name="Add device").click()
    page.locator("#credentials").wait_for()
    expect(page.locator("#credential-topics")).to_contain_text(f"tele/{plug}/#")
    expect(page.locator("#credential-example")).to_contain_text(f"tele/{plug}/temp")
    expect(page.locator(f'[data-device="{plug}"] .device-meta')).to_have_text(
        "tasmota · Europe/Berlin"
    )
    assert (Device.objects.get(name=plug).kind, Device.objects.get(name=plug).tz) == (
        "tasmota",
        "Europe/Berlin",
    )
