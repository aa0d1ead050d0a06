"""The app's own settings (from the environment), plus the baseline views' URLs.

Nothing else changes, so the API is measured exactly as it is deployed: on PostgreSQL that is
CONN_MAX_AGE=0 with psycopg's connection pool (clinic/settings.py). `bench/booking.py --no-pool`
sets BENCH_DB_POOL=false, which drops the pool, so every request opens a connection of its own.
"""

from clinic.environment import env_bool
from clinic.settings import *  # noqa: F403
from clinic.settings import DATABASES

ROOT_URLCONF = "bench.urls"

if not env_bool("BENCH_DB_POOL", default=True):
    DATABASES["default"].get("OPTIONS", {}).pop("pool", None)
