import base64
import secrets

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from rooms.state import reset_room_state_store


@pytest.fixture(autouse=True)
def _test_settings(settings):
    # Tests run with DEBUG off, where production uses WhiteNoise's manifest storage; that needs
    # collectstatic first, which unit tests have no reason to run.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Password hashing is built to be slow; the suite creates many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# Every key the suite writes to Redis starts with one of these (cache, channel layer, room state).
SUITE_KEY_PATTERNS = ("test-*", "test:clinicmeet:*")


@pytest.fixture(autouse=True, scope="session")
def _suite_leaves_no_redis_keys():
    yield
    from django.conf import settings

    if not settings.REDIS_URL:
        return
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    for pattern in SUITE_KEY_PATTERNS:
        for key in client.scan_iter(match=pattern, count=1000):
            client.delete(key)
    client.close()


@pytest.fixture(autouse=True)
def _own_cache(settings):
    # The cache is Redis when REDIS_URL is set: no test may inherit another's entries, and a
    # suite pointed at a Redis that an app also uses must never flush it. Each test gets keys
    # of its own, and deletes only those. (Failed sign-ins are counted in the database.)
    prefix = f"test-{secrets.token_hex(6)}"
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}
    yield
    _delete_cache_keys(prefix)


def _delete_cache_keys(prefix: str) -> None:
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        backend.clear()  # process memory: nobody else's
        return
    client = backend._cache.get_client(write=True)
    for key in client.scan_iter(match=f"{prefix}:*", count=500):
        client.delete(key)


@pytest.fixture(autouse=True)
def _fresh_channel_layer(settings):
    # The suite's channel-layer keys apart from an app's in the same Redis.
    layer = settings.CHANNEL_LAYERS["default"]
    if "CONFIG" in layer:
        config = {**layer["CONFIG"], "prefix": "test:clinicmeet:asgi"}
        settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": config}}
    # Channels caches one layer per process; channels-redis binds locks and connections to the
    # event loop that first used them, and every async test has a loop of its own.
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _fresh_room_state(settings):
    # Room state lives in Redis when REDIS_URL is set: keep the suite's keys apart, and start
    # every test with a store built from its own settings.
    settings.ROOM_STATE_KEY_PREFIX = "test:clinicmeet:room:"
    reset_room_state_store()
    yield
    reset_room_state_store()


@pytest.fixture
def hashing(monkeypatch) -> list[str]:
    """The passwords hashed from now on (the suite's hasher): to check one against a stored
    hash, or, for an unknown username, as a decoy that takes as long (Django's ModelBackend)."""
    hashed: list[str] = []
    encode = MD5PasswordHasher.encode

    def counted_encode(self, password, salt):
        hashed.append(password)
        return encode(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", counted_encode)
    return hashed


@pytest.fixture
def recordings_store(settings, tmp_path):
    """A recordings key and storage folder of the test's own (tests run with DEBUG off, where
    no development key is made). Every test under tests/recordings has it."""
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
