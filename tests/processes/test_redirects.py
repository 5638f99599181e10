"""A user-supplied `next` is kept only when it is a relative path on this site."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from processes.redirects import safe_next_url

FALLBACK = "/tasks/inbox/"

BAD = [
    "",
    None,
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://evil.example/",
    "http://testserver/tasks/",  # absolute, even to this host
    "//evil.example/",
    "//testserver/tasks/",  # scheme-relative, even to this host
    "///evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "/tasks/\\..\\evil",
    "tasks/inbox/",  # relative without a leading slash
    "evil.example",
]


@pytest.mark.parametrize("value", BAD)
def test_anything_but_a_local_path_falls_back(value, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    request = RequestFactory().get("/")

    assert safe_next_url(request, value, FALLBACK) == FALLBACK


@pytest.mark.parametrize("value", ["/tasks/queue/", "/tasks/queue/?status=NEW&page=2", "/"])
def test_a_local_path_is_kept(value, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    request = RequestFactory().get("/")

    assert safe_next_url(request, value, FALLBACK) == value
