"""Browser fixtures: Debian's Chromium driven by Playwright against the live uvicorn stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CHROMIUM

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "test" / "screenshots"

# Flags that keep Chromium off the network this machine does not have (it would retry forever).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session", autouse=True)
def _django_orm_beside_playwright():
    """Playwright's sync API keeps an event loop running in this thread, so Django would refuse
    the tests' own (synchronous, safe) ORM calls. Browser tests run last in a session
    (tests/conftest.py orders them), so this never reaches a test that is not a browser test."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture
def shoot():
    """Save a full-page screenshot under var/test/screenshots/ (looked at by people, not asserted)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        page.wait_for_timeout(400)  # let Material's label and ripple transitions settle
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
