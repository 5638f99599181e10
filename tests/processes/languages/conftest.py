import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _language_reset():
    """A request activates its language for the rest of the thread (LocaleMiddleware never resets
    it; each real request sets its own). Tests after these must not run in German."""
    yield
    translation.deactivate()
