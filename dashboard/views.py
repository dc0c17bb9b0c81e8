"""Dashboard pages: static HTML shells. Every piece of data comes from the JSON API, which the
page scripts call with a bearer token like any other client; the server renders no user data.

Each page gets a Content-Security-Policy that allows only this origin's scripts (plus the
import map, by nonce): the access token lives in a page-script variable, so keeping foreign
scripts out is what keeps it private.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.views.generic import TemplateView

from telemetry.selectors import device_kinds


def _content_security_policy(nonce: str) -> str:
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class _Page(TemplateView):
    """A page shell; ``restricted`` pages show their content only once signed in."""

    restricted = False
    page = ""
    title = ""

    def get(self, request, *args, **kwargs):
        nonce = secrets.token_urlsafe(16)
        response = self.render_to_response(self.get_context_data(csp_nonce=nonce, **kwargs))
        response["Content-Security-Policy"] = _content_security_policy(nonce)
        response["Referrer-Policy"] = "same-origin"
        response["Cache-Control"] = "no-store"
        return response

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            page=self.page, title=self.title, restricted=self.restricted, **kwargs
        )


class HomePage(_Page):
    template_name = "dashboard/home.html"
    page, title = "home", "Home"


class LoginPage(_Page):
    template_name = "dashboard/login.html"
    page, title = "login", "Log in"


class RegisterPage(_Page):
    template_name = "dashboard/register.html"
    page, title = "register", "Register"


class DashboardPage(_Page):
    template_name = "dashboard/dashboard.html"
    page, title, restricted = "dashboard", "Dashboard", True

    def get_context_data(self, **kwargs):
        return super().get_context_data(page_max=settings.TELEMETRY_PAGE_MAX, **kwargs)


class DevicesPage(_Page):
    template_name = "dashboard/devices.html"
    page, title, restricted = "devices", "Devices", True

    def get_context_data(self, **kwargs):
        # Where devices connect, for the mosquitto_pub example (never the ingester's login).
        broker = urlsplit(settings.MQTT_PUBLIC_URL)
        tls = broker.scheme == "mqtts"
        return super().get_context_data(
            mqtt_host=broker.hostname or "127.0.0.1",
            mqtt_port=broker.port or (8883 if tls else 1883),
            mqtt_tls=tls,
            kinds=device_kinds(),
            **kwargs,
        )


class StatusPage(_Page):
    template_name = "dashboard/status.html"
    page, title, restricted = "status", "Service status", True
