"""`manage.py message_sign`: headers a curl config can send, verified by the endpoint."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from processes.api.keys import signing_key_rotate
from tests.processes.api.conftest import bearer

pytestmark = pytest.mark.django_db


def test_the_printed_headers_sign_the_body_for_the_endpoint(make_client):
    client, token = make_client("carrier", ["webhooks:receive"])
    signing_key_rotate(client=client)
    body = json.dumps({"name": "shipment.delivered", "correlation_key": "ORD-000077"})
    out = io.StringIO()

    call_command("message_sign", "carrier", body, "--id", "msg_readme", stdout=out)

    headers = {}
    for line in out.getvalue().splitlines():
        name, value = line.removeprefix('header = "').removesuffix('"').split(": ", 1)
        headers[f"HTTP_{name.upper().replace('-', '_')}"] = value
    assert headers["HTTP_WEBHOOK_ID"] == "msg_readme"
    response = bearer(token).post("/api/v1/messages/", body, content_type="application/json", **headers)
    assert response.status_code == 202, response.content


def test_an_unknown_client_or_one_without_a_key_is_an_error(make_client):
    with pytest.raises(CommandError, match="no API client"):
        call_command("message_sign", "nobody", "{}")
    make_client("keyless", ["webhooks:receive"])
    with pytest.raises(CommandError, match="no signing key"):
        call_command("message_sign", "keyless", "{}")
