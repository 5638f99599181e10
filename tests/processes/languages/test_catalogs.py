"""The German catalogs are complete and their compiled .mo files are the committed ones (ADR 0021:
the .mo files are committed, so a fresh clone speaks German without a build step)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parents[3] / "locale"
CATALOGS = sorted(LOCALE.glob("*/LC_MESSAGES/*.po"))


def test_there_is_a_german_catalog_for_python_and_for_javascript():
    assert {path.relative_to(LOCALE).as_posix() for path in CATALOGS} >= {
        "de/LC_MESSAGES/django.po",
        "de/LC_MESSAGES/djangojs.po",
    }


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext's msgfmt is not installed")
@pytest.mark.parametrize("po", CATALOGS, ids=[p.relative_to(LOCALE).as_posix() for p in CATALOGS])
def test_every_message_is_translated_and_the_mo_file_is_up_to_date(po, tmp_path):
    compiled = tmp_path / "out.mo"
    result = subprocess.run(
        ["msgfmt", "--check-format", "--statistics", "-o", str(compiled), str(po)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "untranslated" not in result.stderr, result.stderr
    assert "fuzzy" not in result.stderr, result.stderr
    assert compiled.read_bytes() == po.with_suffix(".mo").read_bytes(), (
        "run `make messages` and commit the .mo"
    )
