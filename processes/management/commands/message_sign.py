"""`manage.py message_sign CLIENT BODY`: the Standard Webhooks headers of a message, for curl.

Prints a curl config (`header = "webhook-id: …"`, one line per header) on stdout, so

    BODY='{"name": "shipment.delivered", "correlation_key": "ORD-000001"}'
    .venv/bin/python manage.py message_sign carrier "$BODY" | curl -K - --data "$BODY" …

sends it signed with the client's signing keys (a client of this portal: its keys are derived
here; a real sender signs with the `whsec_…` secret it was given, or pass it with --secret).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from processes.api.keys import signing_keys_for_sending
from processes.api.models import ApiClient
from processes.api.signing import headers_sign, secret_parse


class Command(BaseCommand):
    help = "Print the webhook-id, webhook-timestamp and webhook-signature headers of a message, as a curl config."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client", help="the API client that sends the message")
        parser.add_argument("body", help="the exact request body (JSON)")
        parser.add_argument("--id", dest="msg_id", default="", help="the message id (default: a random one)")
        parser.add_argument("--secret", default="", help="sign with this whsec_… secret instead")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["secret"]:
            try:
                keys = [secret_parse(options["secret"])]
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        else:
            client = ApiClient.objects.filter(name=options["client"]).first()
            if client is None:
                raise CommandError(f"no API client named {options['client']!r}")
            keys = signing_keys_for_sending(client)
            if not keys:
                raise CommandError(f"{client.name} has no signing key: api_client secret {client.name}")
        msg_id = options["msg_id"] or f"msg_{secrets.token_hex(12)}"
        for name, value in headers_sign(keys, msg_id, options["body"].encode()).items():
            self.stdout.write(f'header = "{name}: {value}"')
