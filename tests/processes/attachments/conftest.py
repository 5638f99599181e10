"""Fixtures of the attachment and process-page tests: a private store per test, more personas."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import get_resolver

from tests.conftest import _persona

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(autouse=True)
def attachment_root(settings, tmp_path):
    assert get_resolver().url_patterns  # viewflow reverses only once the URLconf is loaded
    settings.ATTACHMENTS_ROOT = tmp_path / "attachments"
    return settings.ATTACHMENTS_ROOT


@pytest.fixture
def fiona(roles):
    """Fraud review, on orders only: may not see purchase requests at all."""
    return _persona("fiona", ["fraud"], roles)


@pytest.fixture
def bob(roles):
    """Another requester: sees his own requests, not alice's."""
    return _persona("bob", ["requesters"], roles)


def upload(name: str = "quote.pdf", content: bytes = PDF, content_type: str = "application/pdf"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def stored_files(root) -> list:
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []
