"""OpenAPI extension: the telemetry role's stateless JWT check gets a scheme name of its own.

drf-spectacular names every simplejwt authenticator "jwtAuth"; the accounts endpoints that
load the user (``JWTAuthentication``) and the telemetry endpoints that trust the claims alone
(``JWTStatelessUserAuthentication``, or a subclass of it) would collide, so the stateless one
is renamed.
"""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTStatelessUserScheme


class StatelessJWTScheme(SimpleJWTStatelessUserScheme):
    name = "jwtStatelessAuth"
    priority = 1
    match_subclasses = True
