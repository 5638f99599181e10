"""schemathesis against the live API (issue 14): every operation of /api/openapi.json, in every
phase (coverage, fuzzing, and stateful sequences linked by the responses), with every check: no
5xx, no status, content type, header or body outside the schema, no schema-valid request
refused (but where tests/services/schemathesis.toml says why), and no operation that answers
without its authentication.

The run is deterministic (a fixed seed) so that CI is; `SCHEMATHESIS_SEED=random` explores
further, and a failure prints its seed and a curl line to reproduce it."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from processes.api.models import Scope
from processes.api.services import api_client_create

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261202")
MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "60")


def test_the_api_keeps_its_schema_under_schemathesis(live_server_url, tmp_path):
    call_command("demo_data", stdout=StringIO())  # processes and tasks in every state to read
    # A service account, so that the task actions reach the gate (not only the 403 of a client
    # that acts as nobody).
    admin = get_user_model().objects.get(username="admin")
    _client, token = api_client_create(name="schemathesis", scopes=list(Scope.values), acts_as=admin)
    seed = [] if SEED == "random" else ["--seed", SEED]
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--no-color",
            "--config-file",
            str(CONFIG),
            "run",
            f"{live_server_url}/api/openapi.json",
            "--url",
            live_server_url,
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            "--max-examples",
            MAX_EXAMPLES,
            "--workers",
            "1",
            *seed,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,  # its cache of found crashes (.schemathesis/) stays out of the checkout
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-12000:]
    assert "Stateful" in report
    assert "No issues found" in report, report[-12000:]
