"""LiveWorker (tests/live_server.py): the recordings' worker beside a live server, for the live
tests, the e2e clinic and the recording bench. It is ready once it takes tasks, says why when it
cannot start, and leaves no process behind."""

import os
import time

import pytest

from tests.live_server import (
    LiveWorker,
    ServerDidNotStart,
    migrated_sqlite,
    production_environment,
)

pytestmark = pytest.mark.slow


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_worker_starts_takes_the_periodic_tasks_and_stops(tmp_path):
    env = production_environment(SQLITE_PATH=migrated_sqlite(tmp_path / "worker.sqlite3"))

    with LiveWorker(env, tmp_path / "worker.log") as worker:
        pid = worker.pid
        deadline = time.monotonic() + 30
        while "sweep_recordings state=SUCCESSFUL" not in worker.log():
            assert time.monotonic() < deadline, worker.log_tail()
            time.sleep(0.2)
        assert worker.alive()

    assert not worker.alive()
    assert _gone(pid)
    assert worker.errors() == []


def test_a_worker_that_cannot_start_says_why(tmp_path):
    env = production_environment(SQLITE_PATH=str(tmp_path / "never-migrated.sqlite3"))

    with pytest.raises(ServerDidNotStart, match="worker exited") as refused:
        LiveWorker(env, tmp_path / "worker.log", start_timeout=60).start()

    assert "no such table" in str(refused.value)
