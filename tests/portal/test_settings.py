"""Configuration from the environment: one line naming the variable when it is wrong, and a
production-like environment that passes `check --deploy` clean. Run as real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROD_KEY = "x7#Rk2!pQv9@Lm4$Tz8^Wc3&Nb6*Hd1(Jf5)Gs0_Ya-Ue+Io=Kl;Zx,Cv.Bn/Mq"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_"))
    }
    for key in (
        "SECRET_KEY",
        "DEBUG",
        "ALLOWED_HOSTS",
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "STATIC_MANIFEST",
    ):
        base.pop(key, None)
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_the_base_url_follows_the_run_command_s_port_when_unset():
    """`WEB_PORT=8931 make run`: the demo's fake carrier posts its callbacks to the portal there."""
    show = "from django.conf import settings; print(settings.PORTAL_BASE_URL, settings.CSRF_TRUSTED_ORIGINS)"

    def on_8931(base_url: str) -> subprocess.CompletedProcess:
        return manage("shell", "-v", "0", "-c", show, DEBUG="1", WEB_PORT="8931", PORTAL_BASE_URL=base_url)

    moved, named = on_8931(""), on_8931("https://portal.example.com")

    assert moved.stdout.split() == ["http://127.0.0.1:8931", "['http://127.0.0.1:8931']"], moved.stderr
    assert named.stdout.split()[0] == "https://portal.example.com", named.stderr


def test_debug_off_without_secret_key_refuses_to_start():
    result = manage("check", DEBUG="0", ALLOWED_HOSTS="portal.example.com")

    assert_one_line_error(result, "SECRET_KEY is not set")
    assert result.returncode == 2


def test_debug_off_with_an_insecure_secret_key_refuses_to_start():
    result = manage("check", DEBUG="0", ALLOWED_HOSTS="portal.example.com", SECRET_KEY="django-insecure-abc")

    assert_one_line_error(result, "SECRET_KEY is insecure")


def test_debug_off_with_empty_allowed_hosts_refuses_to_start():
    result = manage("check", DEBUG="0", SECRET_KEY=PROD_KEY)

    assert_one_line_error(result, "ALLOWED_HOSTS is empty")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("redis://localhost:notaport/0", "REDIS_URL is malformed"),
        ("http://localhost:6379/0", "REDIS_URL must start with redis://"),
        ("redis:///0", "REDIS_URL has no host"),
        ("redis://localhost:6379/zero", "REDIS_URL database must be a number"),
    ],
)
def test_a_malformed_redis_url_is_one_line_naming_it(url, fragment):
    result = manage("check", DEBUG="1", REDIS_URL=url)

    assert_one_line_error(result, fragment)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
            "OTEL_EXPORTER_OTLP_ENDPOINT must be an absolute",
        ),
        (
            {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "psycopg,sqlite"},
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS has sqlite",
        ),
    ],
)
def test_a_wrong_tracing_variable_is_one_line_naming_it(env, fragment):
    result = manage("check", DEBUG="1", **env)

    assert_one_line_error(result, fragment)


def test_an_unreachable_database_is_one_line_naming_it():
    result = manage("migrate", DEBUG="1", DATABASE_URL="postgres://root:secret@127.0.0.1:1/portal")

    assert_one_line_error(result, "DATABASE_URL unreachable", "127.0.0.1")
    assert "secret" not in result.stderr


def test_preflight_names_each_unreachable_dependency():
    result = manage(
        "preflight",
        DEBUG="1",
        DATABASE_URL="postgres://root:secret@127.0.0.1:1/portal",
        CELERY_BROKER_URL="redis://127.0.0.1:1/0",
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "dependency error: DATABASE_URL unreachable (postgresql 127.0.0.1:1/portal)" in result.stderr
    assert "dependency error: CELERY_BROKER_URL unreachable (redis://127.0.0.1:1/0)" in result.stderr
    assert "secret" not in result.stderr


def test_the_worker_reports_a_bad_variable_in_one_line():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "CELERY_"))}
    env.update(DEBUG="1", REDIS_URL="redis://localhost:notaport/0")
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "portal", "inspect", "ping"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert_one_line_error(result, "REDIS_URL is malformed")


def test_check_deploy_is_clean_with_production_settings():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY=PROD_KEY,
        ALLOWED_HOSTS="portal.example.com",
        PORTAL_BASE_URL="https://portal.example.com",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
        SECURE_HSTS_PRELOAD="1",
    )

    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": PROD_KEY,
    "ALLOWED_HOSTS": "portal.example.com",
    "PORTAL_BASE_URL": "https://portal.example.com",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
}


@pytest.mark.parametrize(
    ("env", "check_id"),
    [({"CSP_REPORT_ONLY": "1"}, "portal.W002"), ({"AXES_ENABLED": "0"}, "portal.W004")],
)
def test_check_deploy_warns_when_a_protection_is_off(env, check_id):
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, **env)

    assert result.returncode != 0
    assert check_id in result.stderr + result.stdout


def test_production_pages_carry_the_content_security_policy():
    code = (
        "from django.test import Client; "
        "r = Client(HTTP_HOST='portal.example.com').get('/accounts/login/', secure=True); "
        "print(r.status_code); print(r['Content-Security-Policy'])"
    )
    result = manage("shell", "-c", code, **PRODUCTION, STATIC_MANIFEST="0", SECURE_SSL_REDIRECT="0")

    assert result.returncode == 0, result.stderr
    status, header = result.stdout.strip().splitlines()[-2:]
    assert status == "200"
    directives = {part.split()[0]: part.split()[1:] for part in header.split("; ")}
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]  # no inline script on the page: no nonce needed
    assert directives["connect-src"] == ["'self'", "wss://portal.example.com"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert directives["base-uri"] == ["'self'"]
