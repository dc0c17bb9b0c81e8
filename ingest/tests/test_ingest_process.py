"""``manage.py ingest_mqtt`` as a process: kill -9, database outage, shared group, SIGTERM."""

from __future__ import annotations

import json
import re
import signal
import threading
import time

import pytest

from ingest.tests.conftest import publish, unique, wait_until

pytestmark = pytest.mark.mqtt

TS = 1_700_000_000.0


def sequenced(device: str, start: int, stop: int) -> list[tuple[str, str]]:
    """Readings numbered by value; each carries its own ts, as the device publishers do."""
    return [
        (f"{device}/seq", json.dumps({"value": i, "ts": TS + i / 1000, "seq": i}))
        for i in range(start, stop)
    ]


def publish_in_background(url: str, messages, *, chunk: int = 500) -> threading.Thread:
    def run():
        for i in range(0, len(messages), chunk):
            publish(url, messages[i : i + chunk])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def final_summary(log: str) -> dict[str, int]:
    match = re.findall(r"ingest stopped: received=(\d+) stored=(\d+) duplicates=(\d+)", log)
    assert match, log
    received, stored, duplicates = map(int, match[-1])
    return {"received": received, "stored": stored, "duplicates": duplicates}


def test_kill_9_mid_stream_then_restart_stores_every_sequence_number_once(
    broker, file_db, ingester_process
):
    dev, client_id, n = unique("dev"), unique("ing"), 4000
    first = ingester_process(client_id, "--topic", f"{dev}/#", "--batch-size", "100")
    first.wait_connected()
    publisher = publish_in_background(broker.url, sequenced(dev, 0, n))
    assert wait_until(lambda: len(file_db.values(dev)) >= 500, timeout=60), first.log()
    first.kill9()
    stored_at_kill = len(file_db.values(dev))
    assert stored_at_kill < n, "the stream should still be running when the ingester dies"
    publisher.join(timeout=120)
    assert not publisher.is_alive()

    second = ingester_process(client_id, "--topic", f"{dev}/#", "--batch-size", "100")
    assert wait_until(lambda: len(file_db.values(dev)) >= n, timeout=60), second.log()
    assert second.stop() == 0
    assert sorted(file_db.values(dev)) == [float(i) for i in range(n)]


def test_database_outage_keeps_the_batch_and_stores_everything_once_restored(
    broker, file_db, ingester_process
):
    dev, client_id, n = unique("dev"), unique("ing"), 600
    proc = ingester_process(client_id, "--topic", f"{dev}/#", "--batch-size", "50")
    proc.wait_connected()
    publish(broker.url, sequenced(dev, 0, 100))
    assert wait_until(lambda: len(file_db.values(dev)) == 100), proc.log()

    file_db.outage_begin()
    try:
        publish(broker.url, sequenced(dev, 100, n))
        assert wait_until(lambda: "not stored" in proc.log(), timeout=30), proc.log()
        time.sleep(1.5)  # a few failed retries while the broker keeps the rest
    finally:
        file_db.outage_end()
    assert wait_until(lambda: len(file_db.values(dev)) >= n, timeout=60), proc.log()
    assert proc.stop() == 0
    assert sorted(file_db.values(dev)) == [float(i) for i in range(n)]
    assert final_summary(proc.log())["stored"] == n


def test_two_ingesters_in_a_shared_group_store_the_stream_once_between_them(
    broker, file_db, ingester_process
):
    dev, group, n = unique("dev"), unique("g"), 2000
    args = ("--topic", f"{dev}/#", "--shared-group", group, "--batch-size", "100")
    one = ingester_process(unique("ing"), *args)
    two = ingester_process(unique("ing"), *args)
    one.wait_connected()
    two.wait_connected()
    publish(broker.url, sequenced(dev, 0, n))
    assert wait_until(lambda: len(file_db.values(dev)) >= n, timeout=60)
    assert one.stop() == 0 and two.stop() == 0
    assert sorted(file_db.values(dev)) == [float(i) for i in range(n)]
    a, b = final_summary(one.log()), final_summary(two.log())
    assert a["received"] + b["received"] == n  # split, not duplicated
    assert a["received"] > 0 and b["received"] > 0
    assert a["duplicates"] == b["duplicates"] == 0


def test_sigterm_commits_and_acknowledges_the_partial_batch_then_exits_0(
    broker, file_db, ingester_process
):
    dev, client_id = unique("dev"), unique("ing")
    # A batch that would not fill or time out on its own for a minute.
    args = ("--topic", f"{dev}/#", "--batch-size", "10000", "--max-wait", "60")
    proc = ingester_process(client_id, *args)
    proc.wait_connected()
    publish(broker.url, sequenced(dev, 0, 25))
    time.sleep(1.0)  # delivered to the ingester, sitting in its open batch
    assert file_db.values(dev) == []
    proc.signal(signal.SIGTERM)
    assert proc.process.wait(timeout=10) == 0
    assert sorted(file_db.values(dev)) == [float(i) for i in range(25)]

    # Acknowledged: the same session gets nothing back.
    again = ingester_process(client_id, *args[:2], "--once")
    assert again.process.wait(timeout=30) == 0, again.log()
    assert final_summary(again.log())["received"] == 0


def test_refused_credentials_exit_non_zero(tmp_path, file_db, ingester_process):
    from ingest.tests.conftest import start_mosquitto, stop_process

    passwd = tmp_path / "passwd"
    passwd.write_text("")
    locked = start_mosquitto(tmp_path, extra=f"allow_anonymous false\npassword_file {passwd}")
    try:
        proc = ingester_process(
            unique("ing"), broker_url=f"mqtt://nobody:wrong@127.0.0.1:{locked.port}"
        )
        assert proc.process.wait(timeout=30) == 2
        assert "refused" in proc.log()
        assert "wrong" not in proc.log()  # no password in the logs
    finally:
        stop_process(locked.process)
