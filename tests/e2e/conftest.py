"""Browser fixtures: Debian's Chromium driven by Playwright against the live uvicorn stack."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "test" / "screenshots"


def npm_package(name: str, version: str, node_dir: Path, entry: str) -> Path:
    """`entry` (a path inside the package) of the npm package `name@version`, installed with npm
    into `node_dir` when it is missing or another version. Each package has its own `node_dir`:
    an install with --no-save prunes what another one put there."""
    package = node_dir / "node_modules" / name
    path = package / entry
    package_json = package / "package.json"
    if path.exists() and json.loads(package_json.read_text())["version"] == version:
        return path
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(f"npm is missing (apt-get install -y npm): the browser tests install {name} with it")
    node_dir.mkdir(parents=True, exist_ok=True)
    command = [
        npm, "install", "--prefix", str(node_dir), "--no-save", "--no-audit", "--no-fund",
        "--ignore-scripts", "--omit=dev", f"{name}@{version}",
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(command)} took longer than 5 minutes: is the npm registry reachable?\n{exc}")
    if result.returncode or not path.exists():
        pytest.fail(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return path


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


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item):
    """Close the browser contexts a test opened (log_in makes one for each persona) before its
    fixtures tear down. An open page keeps its live socket, and the live server goes on reading
    for it while pytest-django empties the database; the pages of earlier tests would otherwise
    live on, each logged out by the flush, through the whole session. The Playwright plugin's own
    `context` fixture closes its context itself."""
    browser = item.funcargs.get("browser")
    if browser is None:
        return
    own = item.funcargs.get("context")
    for context in list(browser.contexts):
        if context is not own:
            context.close()


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
