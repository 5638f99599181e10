"""`manage.py webhook_receiver [--port 8765]`: a webhook receiver to watch in the demo.

It accepts POSTs on any path, verifies each Standard Webhooks signature with the keys of the API
client `--client` (default `shop`, read from the database at each request, so a key rotation is
followed) or with `--secret whsec_…` (repeatable), and prints one line per delivery: verified or
not, the webhook-id, the event type and its data. A webhook-id seen before is answered 200 and
printed as a duplicate (what a receiver that dedupes does). `--gone` answers every delivery with
410 Gone, to watch the portal disable the endpoint. For the demo only: it keeps ids in memory.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from processes.api import signing
from processes.api.keys import signing_keys
from processes.api.models import ApiClient


class Command(BaseCommand):
    help = "Receive the portal's webhooks on 127.0.0.1:PORT and print each verified delivery."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=None, help="default: WEBHOOK_RECEIVER_PORT (8765)")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--client", default="shop", help="verify with this API client's signing keys")
        parser.add_argument("--secret", action="append", default=[], help="verify with this whsec_… secret")
        parser.add_argument(
            "--gone", action="store_true", help="answer 410 Gone (the portal disables the endpoint)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            secrets = [signing.secret_parse(text) for text in options["secret"]]
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        client_name = options["client"]
        seen: set[str] = set()
        lock = threading.Lock()

        def write(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()  # a line at a time, also when stdout is a pipe (make run)

        gone = options["gone"]

        def keys() -> list[bytes]:
            if secrets:
                return secrets
            close_old_connections()
            client = ApiClient.objects.filter(name=client_name).first()
            if client is None:
                return []
            return signing.keys_for_verifying(key.salt for key in signing_keys(client))

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's hook name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    msg_id, _ = signing.verify(keys(), dict(self.headers.items()), body)
                except signing.SignatureInvalid as exc:
                    write(f"REJECTED ({exc.reason}): {exc.detail}")
                    self._answer(401)
                    return
                if gone:
                    write(f"410 Gone for {msg_id}")
                    self._answer(410)
                    return
                with lock:
                    duplicate = msg_id in seen
                    seen.add(msg_id)
                event = json.loads(body)
                label = "duplicate" if duplicate else "verified"
                write(f"{label} {msg_id} {event.get('type')} {json.dumps(event.get('data'), sort_keys=True)}")
                self._answer(200)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        port = options["port"] or settings.WEBHOOK_RECEIVER_PORT
        try:
            server = ThreadingHTTPServer((options["host"], port), Handler)
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {options['host']}:{port} ({exc}); set WEBHOOK_RECEIVER_PORT"
            ) from None
        who = "the given secrets" if secrets else f"client {client_name!r}"
        write(f"Webhook receiver on http://{options['host']}:{port}/ verifying with {who}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
