"""The fake external systems' operations, as the process steps call them.

Every operation takes an idempotency key: a repeated call with the same key returns the first
result and changes nothing. Faults (ConnectorFaults, edited in the admin) apply the way real
outages do: "unavailable" before anything happens; latency and lost answers after the
operation was done, so a caller that gives up may have changed the remote state anyway. That
is why jobs pass a stable key.
"""

from __future__ import annotations

import json
import random
import secrets
import time
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Any, TypeVar

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F
from django.utils import timezone

from processes.connectors.models import (
    Connector,
    ConnectorFaults,
    PaymentOperation,
    Product,
    SentEmail,
    Shipment,
    ShippingQuote,
    StockReservation,
)
from processes.exceptions import PermanentError, TransientError

logger = structlog.get_logger(__name__)


class ConnectorUnavailable(TransientError):
    """The system did not take the call (down, overloaded, or its answer never came)."""


class ConnectorRefused(PermanentError):
    """The system took the call and said no (out of stock, declined)."""


def _reference(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6).upper()}"


def _faults(connector: str) -> ConnectorFaults:
    faults, _ = ConnectorFaults.objects.get_or_create(connector=connector)
    return faults


def _before_call(connector: str) -> ConnectorFaults:
    """Injected unavailability: refuse the next N calls, or a share of all calls."""
    faults = _faults(connector)
    # Read first: without refusals set (the usual case) the call costs one statement. The
    # conditional decrement stays the arbiter, so concurrent calls never refuse more than N.
    if faults.refuse_next and ConnectorFaults.objects.filter(connector=connector, refuse_next__gt=0).update(
        refuse_next=F("refuse_next") - 1
    ):
        raise ConnectorUnavailable(f"{connector} unavailable (refusing calls)")
    if faults.error_rate and random.random() < faults.error_rate:
        raise ConnectorUnavailable(f"{connector} unavailable (503)")
    return faults


def _after_call(connector: str, faults: ConnectorFaults) -> None:
    """Injected slowness and lost answers, after the remote side did its work."""
    if faults.latency_ms:
        time.sleep(faults.latency_ms / 1000)
    if faults.timeout_rate and random.random() < faults.timeout_rate:
        time.sleep(faults.timeout_seconds)
        raise ConnectorUnavailable(f"{connector} did not answer within {faults.timeout_seconds}s")


_Record = TypeVar("_Record", bound=models.Model)


def _once(model: type[_Record], lookup: dict[str, Any], create: dict[str, Any]) -> tuple[_Record, bool]:
    """The record for this idempotency key: the existing one, or a new one. Safe under races.
    (`_default_manager` is `objects` for every connector model: none has a custom manager.)

    Insert first: the key's unique constraint decides, so a first call (the usual case) costs
    one INSERT and a repeated one an INSERT refused plus a SELECT.
    """
    try:
        if (
            connection.in_atomic_block
        ):  # a savepoint, so a refused insert leaves the caller's transaction usable
            with transaction.atomic():
                return model._default_manager.create(**lookup, **create), True
        # Autocommit (the worker): one INSERT is its own transaction; no BEGIN/COMMIT around it.
        return model._default_manager.create(**lookup, **create), True
    except IntegrityError:  # this key was done before (a repeat), or a concurrent call won
        return model._default_manager.get(**lookup), False


# ---------------------------------------------------------------- payment


def _payment(kind: str, *, key: str, order_ref: str, amount: Decimal, currency: str) -> PaymentOperation:
    faults = _before_call(Connector.PAYMENT)
    operation, created = _once(
        PaymentOperation,
        {"kind": kind, "idempotency_key": key},
        {
            "order_ref": order_ref,
            "amount": amount,
            "currency": currency,
            "reference": _reference(kind[:3].upper()),
        },
    )
    logger.info("connector.payment", kind=kind, reference=operation.reference, repeated=not created)
    _after_call(Connector.PAYMENT, faults)
    return operation


def payment_authorize(*, key: str, order_ref: str, amount: Decimal, currency: str) -> PaymentOperation:
    return _payment(
        PaymentOperation.Kind.AUTHORIZE, key=key, order_ref=order_ref, amount=amount, currency=currency
    )


def payment_capture(*, key: str, order_ref: str, amount: Decimal, currency: str) -> PaymentOperation:
    if not PaymentOperation.objects.filter(
        kind=PaymentOperation.Kind.AUTHORIZE, order_ref=order_ref
    ).exists():
        raise ConnectorRefused(f"No authorization to capture for order {order_ref}")
    return _payment(
        PaymentOperation.Kind.CAPTURE, key=key, order_ref=order_ref, amount=amount, currency=currency
    )


def payment_refund(*, key: str, order_ref: str, amount: Decimal, currency: str) -> PaymentOperation:
    return _payment(
        PaymentOperation.Kind.REFUND, key=key, order_ref=order_ref, amount=amount, currency=currency
    )


def payment_void(*, key: str, order_ref: str, currency: str) -> PaymentOperation | None:
    """Release an authorization that was never captured; nothing to do once it was captured."""
    if PaymentOperation.objects.filter(kind=PaymentOperation.Kind.CAPTURE, order_ref=order_ref).exists():
        return None
    return _payment(
        PaymentOperation.Kind.VOID, key=key, order_ref=order_ref, amount=Decimal("0"), currency=currency
    )


# ---------------------------------------------------------------- inventory


def inventory_reserve(*, key: str, order_ref: str, lines: list[dict[str, Any]]) -> StockReservation:
    """Take the lines' quantities off stock, all or nothing; refuses what is not on hand."""
    faults = _before_call(Connector.INVENTORY)
    existing = StockReservation.objects.filter(idempotency_key=key).first()
    if existing is None:
        with transaction.atomic():
            for line in lines:
                taken = Product.objects.filter(sku=line["sku"], on_hand__gte=line["qty"]).update(
                    on_hand=F("on_hand") - line["qty"]
                )
                if not taken:
                    raise ConnectorRefused(f"Not enough stock of {line['sku']} for {line['qty']}")
            existing = StockReservation.objects.create(
                idempotency_key=key, order_ref=order_ref, lines=lines, reference=_reference("RSV")
            )
    logger.info("connector.inventory_reserved", reference=existing.reference)
    _after_call(Connector.INVENTORY, faults)
    return existing


def inventory_release(*, key: str, order_ref: str) -> StockReservation | None:
    """Put an order's reserved stock back (once); nothing to do if nothing was reserved."""
    faults = _before_call(Connector.INVENTORY)
    with transaction.atomic():
        reservation = (
            StockReservation.objects.select_for_update()
            .filter(order_ref=order_ref, status=StockReservation.Status.RESERVED)
            .first()
        )
        if reservation is not None:
            for line in reservation.lines:
                Product.objects.filter(sku=line["sku"]).update(on_hand=F("on_hand") + line["qty"])
            reservation.status = StockReservation.Status.RELEASED
            reservation.released_at = timezone.now()
            reservation.save(update_fields=["status", "released_at"])
    _after_call(Connector.INVENTORY, faults)
    return reservation


# ---------------------------------------------------------------- shipping and mail


def shipping_quote(*, key: str, order_ref: str, lines: list[dict[str, Any]], address: str) -> ShippingQuote:
    faults = _before_call(Connector.SHIPPING)
    items = sum(int(line["qty"]) for line in lines)
    cost = Decimal("4.90") + Decimal("1.50") * max(0, items - 1)
    quote, _ = _once(
        ShippingQuote, {"idempotency_key": key}, {"order_ref": order_ref, "carrier": "PostNord", "cost": cost}
    )
    _after_call(Connector.SHIPPING, faults)
    return quote


def mail_send(*, key: str, to: str, subject: str, body: str) -> SentEmail:
    """Send an email once per key: the record is claimed first, so a repeat never sends twice."""
    faults = _before_call(Connector.MAILER)
    record, created = _once(SentEmail, {"idempotency_key": key}, {"to": to, "subject": subject})
    if created:
        try:
            send_mail(subject, body, None, [to])
        except Exception:
            record.delete()  # not sent: the next attempt must be free to send it
            raise
    _after_call(Connector.MAILER, faults)
    return record


# ---------------------------------------------------------------- the carrier (shipments, callbacks)


class CarrierCallbackFailed(Exception):
    """The portal did not take the carrier's callback (down, or an answer worth a retry)."""


def shipment_book(*, key: str, order_ref: str, address: str) -> Shipment:
    """Book a shipment once per key; the carrier calls back `CARRIER_DELIVERY_DELAY` seconds
    later (a Celery task sent after commit), unless the shipping faults drop the callback."""
    faults = _before_call(Connector.SHIPPING)
    shipment, created = _once(
        Shipment,
        {"idempotency_key": key},
        {"order_ref": order_ref, "reference": _reference("SHP"), "address": address},
    )
    if created:
        if faults.callback_drop_rate and random.random() < faults.callback_drop_rate:
            Shipment.objects.filter(pk=shipment.pk).update(callback_dropped=True)
            logger.warning("connector.carrier_callback_dropped", reference=shipment.reference)
        else:
            reference = shipment.reference
            transaction.on_commit(lambda: _carrier_callback_schedule(reference))
    logger.info("connector.shipment_booked", reference=shipment.reference, repeated=not created)
    _after_call(Connector.SHIPPING, faults)
    return shipment


def _carrier_callback_schedule(reference: str) -> None:
    from processes.tasks import carrier_callback

    carrier_callback.apply_async(args=[reference], countdown=settings.CARRIER_DELIVERY_DELAY)


def carrier_token() -> str:
    """The carrier's API token: CARRIER_API_TOKEN, or the file `demo_data` wrote (var/carrier-token)."""
    if settings.CARRIER_API_TOKEN:
        return settings.CARRIER_API_TOKEN
    path = settings.VAR_DIR / "carrier-token"
    return path.read_text().strip() if path.exists() else ""


def carrier_callback_body(shipment: Shipment) -> bytes:
    return json.dumps(
        {
            "name": "shipment.delivered",
            "correlation_key": shipment.order_ref,
            "payload": {"shipment_ref": shipment.reference, "delivered_at": timezone.now().isoformat()},
        }
    ).encode()


def carrier_callback_send(shipment_ref: str) -> str:
    """POST the carrier's signed "shipment.delivered" callback to the portal, over HTTP, as a
    real carrier would (Standard Webhooks headers, signed with the carrier client's keys; our own
    fake may derive them). The message id is stable, so a retry after a lost answer is refused
    as a replay (409), which counts as delivered. Returns what happened."""
    from processes.api.keys import signing_keys_for_sending
    from processes.api.models import ApiClient
    from processes.api.signing import headers_sign

    shipment = Shipment.objects.filter(reference=shipment_ref).first()
    if shipment is None or shipment.callback_dropped:
        return "dropped"
    client = ApiClient.objects.filter(name=settings.CARRIER_CLIENT_NAME, active=True).first()
    keys = signing_keys_for_sending(client) if client is not None else []
    token = carrier_token()
    if not keys or not token:
        logger.error(
            "connector.carrier_not_configured", reference=shipment_ref, client=settings.CARRIER_CLIENT_NAME
        )
        return "not-configured"
    body = carrier_callback_body(shipment)
    headers = {
        **headers_sign(keys, f"msg_{shipment.reference}", body),
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
    }
    url = settings.PORTAL_BASE_URL.rstrip("/") + "/api/v1/messages/"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - our setting
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        raise CarrierCallbackFailed(f"{url}: {exc}") from exc
    if status in (200, 202, 409):
        Shipment.objects.filter(pk=shipment.pk).update(
            status=Shipment.Status.DELIVERED, callback_sent_at=timezone.now()
        )
        logger.info("connector.carrier_callback_sent", reference=shipment_ref, status=status)
        return "sent" if status != 409 else "sent-before"
    if status >= 500 or status == 429:
        raise CarrierCallbackFailed(f"{url} answered {status}")
    logger.error("connector.carrier_callback_refused", reference=shipment_ref, status=status)
    return f"refused-{status}"
