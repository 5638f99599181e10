"""Content-Security-Policy: every page carries it, and no template we render has inline script
(an inline <script>, an on...= handler or a javascript: URL would be refused by the browser)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import viewflow

ROOT = Path(__file__).resolve().parents[2]
VIEWFLOW_TEMPLATES = Path(viewflow.__file__).parent / "templates"
INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=|javascript:", re.IGNORECASE)


def _inline_script(path: Path) -> list[str]:
    return [m.group(0) for m in INLINE.finditer(path.read_text())]


@pytest.mark.parametrize("path", sorted((ROOT / "templates").rglob("*.html")), ids=lambda p: p.name)
def test_no_template_of_ours_has_inline_script(path):
    assert _inline_script(path) == []


def test_viewflow_templates_with_inline_script_are_overridden_or_unused():
    """viewflow's own templates with an inline onclick: the routed ones are overridden under
    templates/viewflow/; the others belong to views the portal does not route (import/export, and
    the flows' bulk assign and unassign: processes/flowapp.py)."""
    unused = {
        "viewflow/contrib/import_export/import_action.html",
        "viewflow/contrib/import_export/export_action.html",
        "viewflow/workflow/tasks_assign.html",
        "viewflow/workflow/tasks_unassign.html",
    }
    offending = {
        str(path.relative_to(VIEWFLOW_TEMPLATES))
        for path in VIEWFLOW_TEMPLATES.rglob("*.html")
        if _inline_script(path)
    }
    not_overridden = {name for name in offending - unused if not (ROOT / "templates" / name).exists()}

    assert not_overridden == set()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/tasks/inbox/", "/admin/", "/healthz"])
def test_every_response_carries_the_policy(client, olivia, path):
    olivia.is_staff = True
    olivia.save(update_fields=["is_staff"])
    client.force_login(olivia)

    policy = client.get(path)["Content-Security-Policy"]

    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
