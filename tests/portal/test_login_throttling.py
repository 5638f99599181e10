"""Login throttling (django-axes): AXES_FAILURE_LIMIT wrong passwords lock one username from one
client (IPv4 address or IPv6 /64) out for the cool-off, on the portal's and the admin's login."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

pytestmark = pytest.mark.django_db

LOGIN, ADMIN_LOGIN = "/accounts/login/", "/admin/login/"


def _login(client, url: str, username: str, password: str, ip: str = "198.51.100.7"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def _fail(client, url: str, username: str, ip: str = "198.51.100.7", times: int | None = None):
    for _ in range(times or settings.AXES_FAILURE_LIMIT):
        _login(client, url, username, "wrong", ip)


def test_the_settings_lock_per_username_and_client():
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username", "ip_address"]]
    assert settings.AXES_FAILURE_LIMIT == 5


def test_a_wrong_password_below_the_limit_is_an_ordinary_form_error(client, olivia):
    response = _login(client, LOGIN, "olivia", "wrong")

    assert response.status_code == 200
    assert response.context["form"].errors


@pytest.mark.parametrize("url", [LOGIN, ADMIN_LOGIN])
def test_after_five_failures_even_the_right_password_gets_a_429_page(client, url, olivia, admin_user):
    username = "admin" if url == ADMIN_LOGIN else "olivia"
    password = "password" if url == ADMIN_LOGIN else "portal-demo"
    _fail(client, url, username)

    response = _login(client, url, username, password)

    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed logins" in page
    assert "Try again in 15 minutes" in page
    assert response["Retry-After"] == "900"
    assert "_auth_user_id" not in client.session


def test_the_same_username_from_another_client_still_logs_in(client, olivia):
    _fail(client, LOGIN, "olivia", ip="198.51.100.7")

    response = _login(client, LOGIN, "olivia", "portal-demo", ip="203.0.113.9")

    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == olivia.pk


def test_another_username_from_the_same_client_still_logs_in(client, olivia, oscar):
    _fail(client, LOGIN, "olivia")

    assert _login(client, LOGIN, "oscar", "portal-demo").status_code == 302


def test_rotating_addresses_within_one_ipv6_slash_64_is_one_client(client, olivia):
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, LOGIN, "olivia", "wrong", ip=f"2001:db8:7:7::{i + 1:x}")

    assert _login(client, LOGIN, "olivia", "portal-demo", ip="2001:db8:7:7::ffff").status_code == 429
    assert _login(client, LOGIN, "olivia", "portal-demo", ip="2001:db8:7:8::1").status_code == 302


def test_the_lock_lifts_after_the_cool_off(client, olivia):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        _fail(client, LOGIN, "olivia")
        assert _login(client, LOGIN, "olivia", "portal-demo").status_code == 429

        traveller.shift(settings.AXES_COOLOFF_TIME + timedelta(seconds=1))

        assert _login(client, LOGIN, "olivia", "portal-demo").status_code == 302


def test_a_success_forgives_earlier_failures(client, olivia):
    _fail(client, LOGIN, "olivia", times=settings.AXES_FAILURE_LIMIT - 1)
    assert _login(client, LOGIN, "olivia", "portal-demo").status_code == 302
    client.logout()

    _fail(client, LOGIN, "olivia", times=settings.AXES_FAILURE_LIMIT - 1)

    assert _login(client, LOGIN, "olivia", "portal-demo").status_code == 302


def test_force_login_is_untouched(client, olivia):
    client.force_login(olivia)

    assert client.get("/tasks/inbox/").status_code == 200
