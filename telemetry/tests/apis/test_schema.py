"""/api/schema documents every telemetry endpoint; /readyz checks the storage."""

from __future__ import annotations

import pytest


@pytest.mark.django_db(databases="__all__")
def test_schema_documents_every_endpoint_with_bodies(api_client):
    response = api_client.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    schema = response.json()
    paths = schema["paths"]
    for path in [
        "/iot",
        "/iot/{topic}",
        "/iot/{topic}/latest",
        "/iot/{topic}/readings",
        "/iot/{topic}/{start}/{end}",
        "/devices",
        "/devices/{name}",
    ]:
        assert path in paths, path
    readings = paths["/iot/{topic}/readings"]["get"]
    assert {p["name"] for p in readings["parameters"]} >= {
        "start",
        "end",
        "limit",
        "cursor",
        "bucket",
        "agg",
        "format",
    }
    assert "text/csv" in readings["responses"]["200"]["content"]
    created = paths["/devices"]["post"]
    assert "requestBody" in created
    assert "password" in str(schema["components"]["schemas"]["DeviceCreated"])
    assert set(created["responses"]) >= {"201", "400", "409"}


@pytest.mark.mongo
@pytest.mark.django_db(databases="__all__")
def test_readyz_reports_the_mongo_storage(api_client, mongo_backend, settings):
    assert api_client.get("/readyz").json()["checks"]["mongo"] == "ok"

    settings.MONGO_URL = "mongodb://127.0.0.1:9/iot?serverSelectionTimeoutMS=200"
    response = api_client.get("/readyz")
    assert response.status_code == 503
    assert "mongo" in response.json()["detail"]
