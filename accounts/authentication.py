"""The browsable API's session login, for its HTML pages only."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import SessionAuthentication
from rest_framework.renderers import BrowsableAPIRenderer


class BrowsableAPISessionAuthentication(SessionAuthentication):
    """DRF's ``SessionAuthentication`` (CSRF on unsafe methods) for the browsable API's HTML
    pages only: a JSON client sending the session cookie gets the same 401 as with nothing,
    in the monolith as in the microservice deployment, where the telemetry role has no
    sessions at all. API clients authenticate with the bearer token alone."""

    def authenticate(self, request):
        if not isinstance(getattr(request, "accepted_renderer", None), BrowsableAPIRenderer):
            return None
        return super().authenticate(request)


class BrowsableAPISessionScheme(OpenApiAuthenticationExtension):
    """Left out of the OpenAPI schema, like the browsable API's access-token cookie: the
    schema describes what API clients send, and they send the bearer token."""

    target_class = BrowsableAPISessionAuthentication
    priority = 2
    name: list[str] = []

    def get_security_requirement(self, auto_schema):
        return None

    def get_security_definition(self, auto_schema):
        return []
