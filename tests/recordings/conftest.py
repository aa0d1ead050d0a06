import base64
import secrets

import pytest


@pytest.fixture(autouse=True)
def recordings_store(settings, tmp_path):
    """Every recordings test gets a key of its own and a storage folder of its own (tests run
    with DEBUG off, where no development key is made)."""
    settings.RECORDINGS_KEY = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    location = tmp_path / "recordings"
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location), "base_url": None},
        },
    }
    return location
