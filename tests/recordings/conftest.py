import pytest


@pytest.fixture(autouse=True)
def _recordings_store(recordings_store):
    """Every recordings test has a key and a storage folder of its own (tests/conftest.py)."""
    return recordings_store
