"""`manage.py api_client create|rotate|secret|revoke`: API clients for scripts.

`create` and `rotate` print only the new token (`secret` only the new signing secret) on stdout (so `TOKEN=$(manage.py api_client …)`
works); everything else goes to stderr. Bad input is a CommandError: a message and exit status 1.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from processes.api.keys import signing_key_rotate
from processes.api.models import ApiClient, Scope
from processes.api.services import api_client_create, api_token_revoke, api_token_rotate


def _client(name: str) -> ApiClient:
    try:
        return ApiClient.objects.get(name=name)
    except ApiClient.DoesNotExist:
        raise CommandError(f"no API client named {name!r}") from None


def _messages(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())
    return "; ".join(error.messages)


class Command(BaseCommand):
    help = "Create an API client (prints its token), rotate its token (prints the new one), or revoke its tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="a new client; prints its first token")
        create.add_argument("name")
        create.add_argument(
            "--scope", action="append", default=[], dest="scopes", help=f"one of {', '.join(Scope.values)}"
        )
        create.add_argument("--address", action="append", default=[], dest="addresses", help="an IP or CIDR")
        create.add_argument("--description", default="")
        create.add_argument(
            "--acts-as", default="", help="the username of the service account it acts with (tasks, requests)"
        )
        rotate = actions.add_parser(
            "rotate", help="a new token; prints it; old tokens expire after the overlap"
        )
        rotate.add_argument("name")
        rotate.add_argument("--overlap-hours", type=float, default=24.0)
        secret = actions.add_parser(
            "secret", help="a new signing secret (whsec_…); prints it; old keys expire after the overlap"
        )
        secret.add_argument("name")
        secret.add_argument("--overlap-hours", type=float, default=24.0)
        revoke = actions.add_parser("revoke", help="revoke every token of the client")
        revoke.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            if not options["scopes"]:
                raise CommandError(f"give at least one --scope ({', '.join(Scope.values)})")
            acts_as = None
            if options["acts_as"]:
                acts_as = get_user_model().objects.filter(username=options["acts_as"]).first()
                if acts_as is None:
                    raise CommandError(f"no user named {options['acts_as']!r}")
            try:
                _client_obj, token = api_client_create(
                    name=options["name"],
                    scopes=options["scopes"],
                    allowed_addresses="\n".join(options["addresses"]),
                    description=options["description"],
                    acts_as=acts_as,
                )
            except ValidationError as error:
                raise CommandError(_messages(error)) from None
            self.stdout.write(token)
        elif action in ("rotate", "secret"):
            if options["overlap_hours"] < 0:
                raise CommandError("--overlap-hours must not be negative")
            client = _client(options["name"])
            rotate = api_token_rotate if action == "rotate" else signing_key_rotate
            self.stdout.write(rotate(client=client, overlap=timedelta(hours=options["overlap_hours"])))
        else:
            count = api_token_revoke(target=_client(options["name"]))
            self.stderr.write(f"{count} token(s) revoked")
