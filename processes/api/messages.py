"""POST /api/v1/messages/: a system's signed message for a waiting process step (a callback).

The client authenticates with its bearer token (scope `webhooks:receive`) and signs the raw body
the Standard Webhooks way (`signed_message_verify`: HMAC over id.timestamp.body, 5 minutes of
tolerance, every usable key of the client). The checks, in order, each with its own problem type:
token (401/403), signature (400 `signature-missing` / `signature-bad-timestamp`, 401
`signature-stale` / `signature-invalid`), body (422 `validation`), message name (422
`message-unknown`), replayed id (409 `message-replayed`). Then the message is handed to the step
waiting for it (200, `consumed`) or kept for its time to live (202, `kept`). As on every POST,
an `Idempotency-Key` makes a retry replay the first answer (a sender may re-sign the message under
a new webhook-id); without one, a reused webhook-id is the 409.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from processes.api.auth import TokenAuth
from processes.api.idempotency import idempotent_with
from processes.api.keys import signed_message_verify
from processes.api.models import Scope
from processes.api.problems import Problem
from processes.api.signing import SignatureInvalid
from processes.messages import services
from processes.nodes.wait_message import CORRELATION_MAX_LENGTH, NAME_MAX_LENGTH

#: SignatureInvalid.reason -> (status, problem slug)
SIGNATURE_PROBLEMS = {
    "missing-headers": (400, "signature-missing"),
    "bad-timestamp": (400, "signature-bad-timestamp"),
    "stale": (401, "signature-stale"),
    "bad-signature": (401, "signature-invalid"),
}


class MessageIn(BaseModel):
    """The body of a message."""

    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(
        min_length=1, max_length=NAME_MAX_LENGTH, description="The message's name, e.g. shipment.delivered"
    )
    correlation_key: StrictStr = Field(
        min_length=1,
        max_length=CORRELATION_MAX_LENGTH,
        description="Which process it is for (e.g. the order's ref)",
    )
    payload: dict[str, Any] = Field(default_factory=dict, description="Anything the sender adds")


class MessageOut(Schema):
    id: str = Field(description="The message's webhook-id")
    status: str = Field(description="`consumed`: a waiting step took it; `kept`: kept for its time to live")
    process_id: int | None = None
    task_id: int | None = None
    expires_at: datetime | None = Field(None, description="When a kept message expires")


class ProblemOut(Schema):
    type: str
    title: str
    status: int
    detail: str
    instance: str = ""


router = Router(tags=["messages"])

_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": MessageIn.model_json_schema()}},
    },
    "parameters": [
        {"in": "header", "name": name, "required": True, "schema": {"type": "string"}, "description": text}
        for name, text in (
            ("webhook-id", "The message's unique id (a replay is refused)"),
            ("webhook-timestamp", "Seconds since the epoch, within 5 minutes of the server's clock"),
            ("webhook-signature", "v1,<base64 HMAC-SHA256 of id.timestamp.body> (space-separated)"),
        )
    ]
    + [
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": False,
            "schema": {"type": "string"},
            "description": "Optional, as on every POST: the same key and body replay the first answer "
            "(a sender that lost it may re-sign and retry); without it a reused webhook-id is a 409.",
        }
    ],
}


def _idempotent(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The API's Idempotency-Key handling (processes/api/api.py mounts this router, so the API
    and its exception handlers are looked up when a request comes, not at import)."""

    def respond(request: HttpRequest, exc: Exception) -> HttpResponse:
        from processes.api.api import api

        return api.on_exception(request, exc)

    return idempotent_with(respond)(view)


@router.post(
    "/messages/",
    response={200: MessageOut, 202: MessageOut, (400, 401, 403, 409, 422): ProblemOut},
    auth=[TokenAuth(Scope.WEBHOOKS_RECEIVE)],
    url_name="message_receive",
    openapi_extra=_BODY_SCHEMA,
)
@_idempotent
def message_receive(request: HttpRequest) -> HttpResponse:
    """Send a message to the process step waiting for it (signed, Standard Webhooks)."""
    client = request.auth  # type: ignore[attr-defined]
    body = request.body
    try:
        message_id, _ = signed_message_verify(client=client, headers=request.headers, body=body)
    except SignatureInvalid as exc:
        status, slug = SIGNATURE_PROBLEMS[exc.reason]
        raise Problem(status, exc.detail, slug=slug) from None
    try:
        data = MessageIn.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        errors = (
            [{"loc": ["body", *map(str, e["loc"])], "msg": e["msg"]} for e in exc.errors()]
            if isinstance(exc, ValidationError)
            else [{"loc": ["body"], "msg": "not JSON"}]
        )
        raise Problem(422, "The message is not valid.", errors) from None
    try:
        receipt = services.message_receive(
            client=client,
            message_id=message_id,
            name=data.name,
            correlation_key=data.correlation_key,
            payload=data.payload,
        )
    except services.MessageUnknown as exc:
        raise Problem(422, str(exc), slug="message-unknown") from None
    except services.MessageReplayed as exc:
        raise Problem(409, str(exc), slug="message-replayed") from None
    out = {
        "id": message_id,
        "status": receipt.outcome,
        "process_id": receipt.process_id,
        "task_id": receipt.task_id,
        "expires_at": receipt.message.expires_at if receipt.outcome == "kept" else None,
    }
    from processes.api.api import json_response

    return json_response(request, 200 if receipt.outcome == "consumed" else 202, MessageOut, out)
