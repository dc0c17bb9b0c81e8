"""Stateless JWT authentication that checks each distinct token's signature once per process.

Decoding an RS256 access token and verifying its signature costs about 100 µs, and a client
sends the same token with every request until it expires. A token whose signature and claims
verified once is those same bytes on every later request, so its validated form is kept in a
bounded per-process LRU keyed by the raw token, and each later use checks only its expiry
again. Nothing else changes: an expired, malformed or foreign-signed token gets the same 401
as before (those are never cached), and no request reaches the auth role or the user table.
The keys, issuer and audience are fixed for the life of the process, as they are for
simplejwt's own token backend.
"""

from __future__ import annotations

import functools

from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import aware_utcnow

# Distinct tokens in use per process; a cached token is a few kilobytes at most.
VERIFIED_TOKENS_PER_PROCESS = 2048


@functools.lru_cache(maxsize=VERIFIED_TOKENS_PER_PROCESS)
def _verified(raw_token: bytes) -> Token:
    """The fully validated token (signature, issuer, audience, type, expiry); raises, and
    then caches nothing, when it does not validate."""
    return JWTStatelessUserAuthentication().get_validated_token(raw_token)


class VerifiedOnceJWTAuthentication(JWTStatelessUserAuthentication):
    """``JWTStatelessUserAuthentication`` that verifies a given token's signature only once."""

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = _verified(bytes(raw_token))
        try:
            token.check_exp(current_time=aware_utcnow())
        except TokenError:
            # Expired since it was cached: the full check answers with the usual error.
            return super().get_validated_token(raw_token)
        return token
