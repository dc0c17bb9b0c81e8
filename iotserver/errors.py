"""JSON errors everywhere: DRF exceptions, unknown paths and server errors."""

from __future__ import annotations

import logging

from django.http import JsonResponse
from rest_framework import exceptions
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


def api_exception_handler(exc, context):
    """DRF's handler, with validation errors as ``{"detail": ..., <field>: [...]}``."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        data = response.data
        if isinstance(data, dict):
            fields = sorted(k for k in data if k not in ("detail", "non_field_errors"))
            detail = data.get("detail")
            if isinstance(detail, list):  # ValidationError({"detail": "..."}) arrives as a list
                detail = " ".join(str(m) for m in detail)
            if detail is None and "non_field_errors" in data:
                detail = " ".join(str(m) for m in data["non_field_errors"])
            if detail is None:
                detail = f"Invalid input: {', '.join(fields)}." if fields else "Invalid input."
            response.data = {"detail": detail, **{k: data[k] for k in fields}}
        elif isinstance(data, list):
            response.data = {"detail": " ".join(str(m) for m in data)}
    return response


def not_found(request, exception=None):
    return JsonResponse({"detail": "Not found."}, status=404)


def server_error(request):
    return JsonResponse({"detail": "Internal server error."}, status=500)


def bad_request(request, exception=None):
    return JsonResponse({"detail": "Bad request."}, status=400)


def permission_denied(request, exception=None):
    return JsonResponse({"detail": "Permission denied."}, status=403)
