"""The OpenAPI schema's project-wide parts: every error status an operation can answer, and
the browsable API's authenticators kept out of it.

``AutoSchema`` (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``) adds to each operation the error
answers that follow from how its view is built, so that no view has to list them by hand
and none is forgotten (DESIGN.md, "HTTP API"): 400 when it takes a body or query
parameters, 401 when it needs a token, 403 when it needs more than a token (staff), 404 when
its path names something, 415 when it takes a JSON body, 429 (with ``Retry-After``) when it
is throttled. An operation that declares one of these keeps its own description. Every
error answer without a body of its own gets the ``{"detail": ...}`` one (iotserver.errors),
and an operation that can answer the browsable API's page answers its errors as pages too.
"""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.permissions import AllowAny, IsAuthenticated

_DEFAULT_ERRORS = {
    "400": "Invalid input: `detail` says what was wrong, and each field or parameter in "
    "error is listed alongside with its messages",
    "401": "No valid access token (send `Authorization: Bearer <access JWT>`)",
    "403": "Authenticated, but not allowed to do this",
    "404": "Not found, or not the caller's",
    "415": "The body is not `application/json`",
    "429": "Too many requests: retry after `Retry-After` seconds",
}
RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer", "minimum": 0},
        "description": "Seconds to wait before trying again.",
    }
}


def _error_body():
    # The users' ErrorOutput, so that every error answer shares one component.
    from accounts.serializers import ErrorOutput

    return ErrorOutput


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        if "requestBody" in operation:
            # No operation here takes an empty body, not even one whose fields are each
            # optional (PATCH /devices/<name> needs one of them).
            operation["requestBody"]["required"] = True
        responses = operation["responses"]
        for code in self._error_statuses(operation):
            responses.setdefault(code, {"description": _DEFAULT_ERRORS[code]})
        error = {"schema": self.resolve_serializer(_error_body(), "response").ref}
        # Asked for the browsable page (format=api), errors come as pages too; asked for
        # CSV, they come as JSON.
        html = "text/html" in responses.get("200", {}).get("content", {})
        for code, response in responses.items():
            if code[0] in "45":
                declared = response.get("content", {}).get("application/json")
                response["content"] = {"application/json": declared or error}
                if html:
                    response["content"]["text/html"] = {"schema": {"type": "string"}}
        if "429" in responses:
            responses["429"].setdefault("headers", {}).update(RETRY_AFTER)
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_statuses(self, operation: dict) -> list[str]:
        """The error statuses that follow from the view's parts, for this operation."""
        parameters = operation.get("parameters", [])
        codes = []
        if "requestBody" in operation or any(p["in"] == "query" for p in parameters):
            codes.append("400")
        permissions = self.view.get_permissions()
        if not all(isinstance(p, AllowAny) for p in permissions):
            # Without an authenticator DRF answers a missing login with 403, not 401.
            codes.append("401" if self.view.get_authenticators() else "403")
            if any(not isinstance(p, (AllowAny, IsAuthenticated)) for p in permissions):
                codes.append("403")
        if any(p["in"] == "path" for p in parameters):
            codes.append("404")
        if "requestBody" in operation:
            codes.append("415")
        if self.view.get_throttles():
            codes.append("429")
        return codes


class _LeftOutScheme(OpenApiAuthenticationExtension):
    """An authenticator for the browsable API's HTML pages only: the schema describes what
    API clients send, and they send the bearer token alone."""

    # Above the stateless JWT scheme (telemetry.schema), which matches its subclasses.
    priority = 2
    name: list[str] = []

    def get_security_requirement(self, auto_schema):
        return None

    def get_security_definition(self, auto_schema):
        return []


class BrowsableAPISessionScheme(_LeftOutScheme):
    target_class = "accounts.authentication.BrowsableAPISessionAuthentication"


class BrowsableAPICookieScheme(_LeftOutScheme):
    target_class = "iotserver.authentication.BrowsableAPICookieAuthentication"
