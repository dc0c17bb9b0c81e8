"""Telemetry test fixtures: a secantusdb wire server for the mongo backend, storages to test."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from pymongo import MongoClient

from telemetry.storage.mongo import MongoStorage
from telemetry.storage.sql import SqlStorage


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _secantusd() -> str | None:
    beside_python = Path(sys.executable).with_name("secantusd-py")
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("secantusd-py")


@pytest.fixture(scope="session")
def mongo_url():
    """A MongoDB-compatible server (secantusdb, in memory) for the whole test session."""
    executable = _secantusd()
    if executable is None:
        pytest.skip("secantusd-py (requirements-dev.txt) is not installed")
    port = _free_port()
    process = subprocess.Popen(
        [executable, "--host", "127.0.0.1", "--port", str(port), "--storage-path", ":memory:"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    try:
        client = MongoClient(url, serverSelectionTimeoutMS=500)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.admin.command("ping")
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"secantusdb did not start: {process.stderr.read().decode()[-2000:]}"
                    ) from None
                time.sleep(0.1)
        client.close()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def mongo_storage(mongo_url):
    """A MongoStorage on a database of its own, dropped afterwards."""
    storage = MongoStorage(url=mongo_url, database=f"test_{uuid.uuid4().hex[:12]}")
    yield storage
    storage.client.drop_database(storage.db.name)
    storage.close()


@pytest.fixture(params=["sql", pytest.param("mongo", marks=pytest.mark.mongo)])
def storage(request):
    """Each backend in turn: the contract tests run against both."""
    if request.param == "sql":
        request.getfixturevalue("db")  # the module's django_db marker picks the databases
        return SqlStorage()
    return request.getfixturevalue("mongo_storage")


@pytest.fixture
def mongo_backend(mongo_url, settings):
    """Run the app (services, selectors, API) on the mongo backend, on a fresh database."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    settings.TELEMETRY_BACKEND = "mongo"
    settings.MONGO_URL = mongo_url.replace("/?", f"/{name}?")
    yield settings.MONGO_URL
    client = MongoClient(mongo_url)
    client.drop_database(name)
    client.close()


@pytest.fixture
def telemetry_num_queries(django_assert_num_queries):
    """``django_assert_num_queries`` on the telemetry database (routed or default)."""
    from django.db import connections

    from telemetry.routers import telemetry_alias

    def check(num: int):
        return django_assert_num_queries(num, connection=connections[telemetry_alias()])

    return check


@pytest.fixture
def telemetry_on_commit(django_capture_on_commit_callbacks):
    """``django_capture_on_commit_callbacks`` on the telemetry database."""
    from telemetry.routers import telemetry_alias

    def capture(*, execute: bool):
        return django_capture_on_commit_callbacks(using=telemetry_alias(), execute=execute)

    return capture
