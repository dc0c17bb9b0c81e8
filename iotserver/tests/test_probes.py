"""Health, readiness, metrics, schema and error shapes shared by every role."""

import pytest
import yaml
from django.db import connections

pytestmark = pytest.mark.django_db


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_ok_names_checks(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


def test_readyz_503_names_failing_database(client, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise ConnectionError("database down")

    monkeypatch.setattr(connections["default"], "cursor", broken_cursor)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "database" in response.json()["detail"]


def test_metrics_exposes_request_counters(client):
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert "django_http_requests_total_by_method_total" in text
    assert "django_http_requests_latency_seconds_by_view_method_bucket" in text


def test_schema_documents_auth_endpoints_with_bearer(client):
    response = client.get("/api/schema")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    for path in (
        "/auth/register",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/auth/me",
        "/users",
        "/users/{user_id}",
        "/.well-known/jwks.json",
    ):
        assert path in schema["paths"], path
    login = schema["paths"]["/auth/login"]["post"]
    assert "requestBody" in login and "200" in login["responses"]
    assert schema["components"]["securitySchemes"]["jwtAuth"]["scheme"] == "bearer"


def test_schema_validates():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_swagger_ui_uses_local_assets(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()


def test_browsable_api_renders_html(client):
    response = client.get("/auth/login", HTTP_ACCEPT="text/html")
    assert response.status_code == 405  # GET not allowed, but rendered as a page
    assert b"<html" in response.content


def test_unknown_path_is_json_404(client, settings):
    settings.DEBUG = False
    response = client.get("/no/such/path")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
