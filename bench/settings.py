"""The app's own settings (from the environment), plus the baseline views' URLs.

Nothing else changes, so the API is measured exactly as it is deployed.
"""

from clinic.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
