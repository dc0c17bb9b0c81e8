"""The browsable API's session login, for its HTML pages only."""

from __future__ import annotations

from rest_framework.authentication import SessionAuthentication
from rest_framework.renderers import BrowsableAPIRenderer


class BrowsableAPISessionAuthentication(SessionAuthentication):
    """DRF's ``SessionAuthentication`` (CSRF on unsafe methods) for the browsable API's HTML
    pages only: a JSON client sending the session cookie gets the same 401 as with nothing,
    in the monolith as in the microservice deployment, where the telemetry role has no
    sessions at all. API clients authenticate with the bearer token alone (the OpenAPI
    schema leaves this class out: iotserver.schema)."""

    def authenticate(self, request):
        if not isinstance(getattr(request, "accepted_renderer", None), BrowsableAPIRenderer):
            return None
        return super().authenticate(request)
