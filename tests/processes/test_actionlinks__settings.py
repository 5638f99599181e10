"""Configuration of email links: PORTAL_BASE_URL and EMAIL_URL fail with one line when malformed,
and `check --deploy` warns while links would point at a loopback or plain-http address."""

from __future__ import annotations

import pytest

from tests.portal.test_settings import PROD_KEY, assert_one_line_error, manage

PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": PROD_KEY,
    "ALLOWED_HOSTS": "portal.example.com",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
}


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("portal.example.com", "PORTAL_BASE_URL must be an absolute http(s) URL"),
        ("ftp://portal.example.com", "PORTAL_BASE_URL must be an absolute http(s) URL"),
        ("https://portal.example.com:x", "PORTAL_BASE_URL is malformed"),
        ("https://portal.example.com/?a=1", "PORTAL_BASE_URL must not have a query"),
    ],
)
def test_a_malformed_base_url_stops_with_one_line(value, fragment):
    result = manage("check", **PRODUCTION, PORTAL_BASE_URL=value)

    assert_one_line_error(result, fragment)


@pytest.mark.parametrize("value", ["bogus://mail.example.com", "smtp://mail.example.com:x"])
def test_a_malformed_email_url_stops_with_one_line(value):
    result = manage("check", **PRODUCTION, PORTAL_BASE_URL="https://portal.example.com", EMAIL_URL=value)

    assert_one_line_error(result, "EMAIL_URL is malformed")


def test_check_deploy_warns_about_links_to_a_loopback_base_url():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)

    assert result.returncode != 0
    assert "portal.W001" in result.stderr + result.stdout


def test_check_deploy_is_clean_with_a_public_https_base_url_and_smtp():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **PRODUCTION,
        PORTAL_BASE_URL="https://portal.example.com/",
        EMAIL_URL="smtp+tls://portal:secret@mail.example.com:587",
    )

    assert result.returncode == 0, result.stderr + result.stdout
