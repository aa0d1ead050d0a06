"""The suite cleans up its own cache keys only: an app sharing the Redis keeps its data."""

import pytest
from django.conf import settings
from django.core.cache import cache, caches

from tests.conftest import _delete_cache_keys


@pytest.mark.skipif(not settings.REDIS_URL, reason="the in-memory cache is the process's own")
def test_cleanup_leaves_keys_the_suite_did_not_write():
    client = caches["default"]._cache.get_client(write=True)
    client.set("someone-elses:key", "kept", ex=60)
    cache.set("throttle", 1)
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    try:
        _delete_cache_keys(prefix)
        assert cache.get("throttle") is None
        assert client.get("someone-elses:key") == b"kept"
    finally:
        client.delete("someone-elses:key")
