from django.core.cache import cache

from tests.conftest import CACHE_KEY_PREFIX


def test_tests_keep_their_cache_keys_apart():
    cache.set("probe", 1, 5)
    assert cache.make_key("probe").startswith(f"{CACHE_KEY_PREFIX}:")
