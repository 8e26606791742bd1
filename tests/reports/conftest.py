import pytest


@pytest.fixture(autouse=True)
def english(settings):
    """The module's tests read the English UI; pages in Spanish (cookie or browser) still are."""
    settings.LANGUAGE_CODE = "en"
