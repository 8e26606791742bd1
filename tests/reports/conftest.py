import pytest


@pytest.fixture(autouse=True)
def english(settings):
    """The module's tests read the English UI; pages in Spanish (cookie or browser) still are."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture(autouse=True)
def fresh_dashboard():
    """The dashboard keeps its figures in the shared cache for minutes: another test's (the
    crawl's, with other data) must not be what this test reads. Only its own keys go: the cache
    shares Redis with the Celery broker, so a flush would drop queued tasks."""
    forget_dashboard_figures()
    yield
    forget_dashboard_figures()


def forget_dashboard_figures() -> None:
    from django.core.cache import cache

    from reports.dashboard import CACHE_PREFIX

    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match=cache.make_key(f"{CACHE_PREFIX}:*"), count=1000))
    if keys:
        client.delete(*keys)
