"""tests/live_cluster.py: HAProxy in front of several Daphne processes, its health checks taking
a dead one out; and the proxy configurations HAProxy itself accepts."""

import subprocess
import time

import pytest
import requests

from tests.live_cluster import REPO, LiveCluster, haproxy_executable
from tests.live_server import migrated_sqlite, production_environment

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("config", ["haproxy.cfg", "rendered"])
def test_haproxy_accepts_the_configurations(tmp_path, config):
    cluster = LiveCluster(production_environment(), tmp_path, processes=2)
    for index, server in enumerate(cluster.servers):
        server.port = 20000 + index  # rendering needs ports, not running processes
    path = REPO / "docker" / config if config == "haproxy.cfg" else cluster.render(8000)
    checked = subprocess.run(
        [haproxy_executable(), "-c", "-f", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_killed_process_is_taken_out_and_the_other_serves(tmp_path):
    # Two processes on one SQLite file: /healthz needs the database and a channel layer (the
    # in-memory one, no Redis), which is all the proxy's checks ask.
    env = production_environment(SQLITE_PATH=migrated_sqlite(tmp_path / "db.sqlite3"))
    with LiveCluster(env, tmp_path, processes=2) as cluster:
        assert cluster.status() == {"daphne-0": "UP", "daphne-1": "UP"}
        for _ in range(4):
            assert requests.get(f"{cluster.http_url}/healthz", timeout=10).status_code == 200
        served = {name: int(row["stot"]) for name, row in cluster.stats().items()}
        assert all(served.values()), served  # both got requests: no stickiness

        cluster.kill(0)
        # Whatever the checks have seen yet, no request fails: a refused connection is tried
        # again on the live process (retries + redispatch).
        for _ in range(6):
            assert requests.get(f"{cluster.http_url}/healthz", timeout=10).status_code == 200
        deadline = time.monotonic() + 30  # two failed checks, a second apart, take it out
        while not cluster.status()["daphne-0"].startswith("DOWN"):
            assert time.monotonic() < deadline, cluster.status()
            time.sleep(0.1)
        assert cluster.status()["daphne-1"] == "UP"
