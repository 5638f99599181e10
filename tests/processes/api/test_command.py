"""`manage.py api_client`: stdout is only the token; bad input exits with status 1."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from processes.api.models import ApiClient, ApiToken
from processes.api.services import api_token_authenticate

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("api_client", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_prints_only_the_token(db):
    out, _err = run(
        "create", "shop", "--scope", "processes:read", "--scope", "processes:start", "--address", "10.0.0.0/8"
    )
    token = out.strip()
    client = ApiClient.objects.get(name="shop")

    assert out == token + "\n"
    assert token.startswith("ap_")
    assert client.scopes == ["processes:read", "processes:start"]
    assert client.allowed_addresses == "10.0.0.0/8"
    assert api_token_authenticate(token, "10.1.1.1") == client


def test_rotate_prints_the_new_token_and_revoke_stops_them(db):
    old = run("create", "shop", "--scope", "processes:read")[0].strip()
    new = run("rotate", "shop", "--overlap-hours", "0")[0].strip()

    assert new.startswith("ap_")
    assert new != old
    assert api_token_authenticate(old, "127.0.0.1") is None  # no overlap
    assert api_token_authenticate(new, "127.0.0.1") is not None
    _out, err = run("revoke", "shop")
    assert "1 token(s) revoked" in err
    assert api_token_authenticate(new, "127.0.0.1") is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "shop", "--scope", "processes:write"], "Unknown scope processes:write"),
        (["create", "shop"], "give at least one --scope"),
        (["create", "shop", "--scope", "processes:read", "--address", "nowhere"], "nowhere is not an IP"),
        (["rotate", "nobody"], "no API client named 'nobody'"),
        (["revoke", "nobody"], "no API client named 'nobody'"),
        (["rotate", "shop", "--overlap-hours", "-1"], "must not be negative"),
    ],
)
def test_bad_input_is_a_command_error(db, args, message):
    if args[0] == "rotate" and args[1] == "shop":
        run("create", "shop", "--scope", "processes:read")
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert ApiToken.objects.count() == (1 if args[1] == "shop" and args[0] == "rotate" else 0)


def test_a_duplicate_name_is_a_command_error(db):
    run("create", "shop", "--scope", "processes:read")

    with pytest.raises(CommandError, match="name: API client with this Name already exists"):
        run("create", "shop", "--scope", "processes:read")


def test_manage_py_exits_with_status_1_on_a_bad_scope(db, capsys, monkeypatch):
    """As manage.py runs it (run_from_argv): the message on stderr, nothing on stdout, status 1."""
    from django.core.management import base

    from processes.management.commands.api_client import Command

    monkeypatch.setattr(base.connections, "close_all", lambda: None)  # keep the test's transaction

    with pytest.raises(SystemExit) as exit_info:
        Command().run_from_argv(["manage.py", "api_client", "create", "shop", "--scope", "nope"])

    out, err = capsys.readouterr()
    assert exit_info.value.code == 1
    assert out == ""
    assert "CommandError: scopes: Unknown scope nope; the scopes are processes:start" in err
    assert not ApiClient.objects.exists()


def test_create_with_a_service_account(olivia):
    run("create", "bot", "--scope", "tasks:act", "--acts-as", "olivia")

    assert ApiClient.objects.get(name="bot").acts_as == olivia
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        run("create", "bot2", "--scope", "tasks:act", "--acts-as", "nobody")
    assert not ApiClient.objects.filter(name="bot2").exists()
