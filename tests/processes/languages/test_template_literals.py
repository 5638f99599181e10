"""Every word a template of the portal's own shows is translatable (ADR 0021).

A plain checker, not a parser: it drops comments, `{% trans %}` and `{% blocktrans %}` blocks,
every other tag and variable, scripts, styles and the markup, and reports the words left over,
and the literal words in the attributes people read (alt, title, placeholder, aria-label). What
is meant to stay as it is (a brand, a code) goes in ALLOWED with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE_DIRS = [ROOT / "templates", *sorted((ROOT / "processes").glob("**/templates"))]

# (template path under its templates directory, the literal text): why it stays untranslated.
ALLOWED: dict[tuple[str, str], str] = {}

_DROP = [
    re.compile(r"\{%\s*comment\s*%\}.*?\{%\s*endcomment\s*%\}", re.S),
    re.compile(r"\{#.*?#\}", re.S),
    re.compile(r"\{%\s*blocktrans(?:late)?\b.*?\{%\s*endblocktrans(?:late)?\s*%\}", re.S),
    re.compile(r"<script\b.*?</script>", re.S | re.I),
    re.compile(r"<style\b.*?</style>", re.S | re.I),
    re.compile(r"<!--.*?-->", re.S),
    # Material icons are ligatures: the word is the icon's name, drawn as a picture.
    re.compile(r"<(i|span)\b[^>]*\bmaterial-icons\b[^>]*>.*?</\1>", re.S),
]
_TAG_OR_VAR = re.compile(r"\{%.*?%\}|\{\{.*?\}\}", re.S)
_ATTRIBUTE = re.compile(r"""\b(?:alt|title|placeholder|aria-label)\s*=\s*("[^"]*"|'[^']*')""", re.I)
_MARKUP = re.compile(r"<[^>]*>", re.S)
_ENTITY = re.compile(r"&[#\w]+;")
_WORD = re.compile(r"[A-Za-zÄÖÜäöüß]{2,}")


def templates() -> list[tuple[str, Path]]:
    found = []
    for directory in TEMPLATE_DIRS:
        for path in sorted(directory.rglob("*")):
            if path.suffix in (".html", ".txt") and path.is_file():
                found.append((str(path.relative_to(directory)), path))
    return found


def untranslated(source: str) -> list[str]:
    """The literal texts of a template's source that no translation tag covers."""
    for pattern in _DROP:
        source = pattern.sub(" ", source)
    source = _TAG_OR_VAR.sub(" ", source)
    texts = []
    for match in _ATTRIBUTE.finditer(source):
        value = match.group(1)[1:-1]
        if _WORD.search(value):
            texts.append(value.strip())
    source = _MARKUP.sub("\n", source)
    source = _ENTITY.sub(" ", source)
    for line in source.splitlines():
        line = " ".join(line.split())
        if _WORD.search(line):
            texts.append(line)
    return texts


def test_the_checker_finds_literal_text_and_lets_translated_text_through():
    source = """{% load i18n %}{# a comment #}<p title="Hover me">Plain words</p>
    <p>{% trans "Marked" %} {{ value }}</p>{% blocktrans %}Also {{ marked }}{% endblocktrans %}
    <script>const ignored = "text";</script>"""
    assert untranslated(source) == ["Hover me", "Plain words"]


def test_there_are_templates_to_check():
    assert len(templates()) > 30


@pytest.mark.parametrize(("name", "path"), templates(), ids=[name for name, _ in templates()])
def test_a_template_has_no_untranslated_literal_text(name, path):
    left = [text for text in untranslated(path.read_text()) if (name, text) not in ALLOWED]
    assert left == [], f"{name}: wrap these in {{% trans %}} or {{% blocktrans %}}: {left}"
