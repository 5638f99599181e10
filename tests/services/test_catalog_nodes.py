"""A process type published in the admin is live at once on every web process of a deployment:
two uvicorn servers (one of them with two worker processes), both started before the type
existed, show it in their menus and serve its start form, with no restart."""

from __future__ import annotations

import sys
from http.cookiejar import CookieJar
from urllib.request import HTTPCookieProcessor, Request, build_opener

import pytest

from tests.stack import Service, free_port, session_cookie

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ENTRY = "/catalog/types/expense-claim/"


def _get(url: str, cookie: str) -> tuple[int, str]:
    opener = build_opener(HTTPCookieProcessor(CookieJar()))
    request = Request(url, headers={"Cookie": cookie})  # noqa: S310 - our own servers
    with opener.open(request, timeout=30) as response:
        return response.status, response.read().decode()


@pytest.fixture
def second_server(stack_env):
    """Another uvicorn on the same database, with two worker processes."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**stack_env, "PORTAL_BASE_URL": url, "CSRF_TRUSTED_ORIGINS": url}
    argv = [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--host", "127.0.0.1"]
    web = Service("web-catalog-2", [*argv, "--port", str(port), "--workers", "2", "--lifespan", "off"], env)

    def ready() -> bool:
        try:
            return _get(f"{url}/healthz", "")[0] == 200
        except OSError:
            return False

    web.wait_until(ready, what="the second uvicorn")
    yield url
    web.stop()


def test_a_published_type_is_live_on_every_web_process(live_server_url, second_server, roles, alice, maria):
    from tests.processes.catalog.conftest import expense_type_define

    session = session_cookie(alice)
    servers = [live_server_url, second_server]
    for server in servers:
        for _ in range(4):  # requests spread over the second server's two processes
            status, page = _get(f"{server}/tasks/inbox/", session)
            assert status == 200
            assert ENTRY not in page

    expense_type_define(maria)  # published while every server runs

    for server in servers:
        for _ in range(4):
            status, page = _get(f"{server}/tasks/inbox/", session)
            assert status == 200
            assert ENTRY in page, server
            status, form = _get(f"{server}{ENTRY}new/", session)
            assert status == 200
            assert "Amount (EUR)" in form
