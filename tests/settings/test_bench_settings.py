"""The booking benchmark's database flag is what the server's settings do: on PostgreSQL the
app always runs with CONN_MAX_AGE=0 and psycopg's pool, and `bench/booking.py --no-pool` is the
only other choice (bench/settings.py). The bench reports these settings as the server reads
them (bench/seed.py), and so does this test, in a fresh interpreter with the bench's server
environment."""

import json

import pytest

from bench import booking
from tests import live_server

READ = (
    "import json, django; django.setup(); from bench.seed import _database_settings; "
    "print(json.dumps(_database_settings()))"
)


@pytest.fixture(autouse=True)
def _no_collectstatic(monkeypatch, tmp_path):
    # Only the settings are read here; no server serves the static files.
    monkeypatch.setattr(live_server, "collected_static_root", lambda: str(tmp_path))


@pytest.mark.parametrize("pool", [True, False], ids=["pool", "no pool"])
def test_the_flag_chooses_the_pool_and_the_report_says_so(pool):
    env = booking.server_environment(pool=pool)
    database = json.loads(live_server.run_python(env, "-c", READ, timeout=60))

    assert database["conn_max_age"] == 0
    assert (database["pool"] is not None) is pool
    label = booking.database_settings_label(database)
    assert label.startswith("CONN_MAX_AGE=0, ")
    assert ("psycopg pool" in label) is pool
    assert ("no pool" in label) is not pool
