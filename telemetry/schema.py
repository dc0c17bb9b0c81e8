"""OpenAPI extensions of the telemetry API.

drf-spectacular names every simplejwt authenticator "jwtAuth"; the accounts endpoints that
load the user (``JWTAuthentication``) and the telemetry endpoints that trust the claims alone
(``JWTStatelessUserAuthentication``, or a subclass of it) would collide, so the stateless one
is renamed. A device update states that it needs at least one of its fields.
"""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTStatelessUserScheme
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import force_instance


class StatelessJWTScheme(SimpleJWTStatelessUserScheme):
    name = "jwtStatelessAuth"
    priority = 1
    match_subclasses = True


class DeviceUpdateScheme(OpenApiSerializerExtension):
    """``enabled`` and/or ``tz``: a body with neither answers 400."""

    target_class = "telemetry.serializers.DeviceUpdateSerializer"

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["anyOf"] = [{"required": [name]} for name in force_instance(self.target).fields]
        return schema
