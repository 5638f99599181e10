"""API clients and their tokens: systems that call the JSON API (issue 14).

Only the SHA-256 of a token's secret is stored; the token itself is shown once, when it is made.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Scope(models.TextChoices):
    PROCESSES_START = "processes:start", _("Start processes")
    PROCESSES_READ = "processes:read", _("Read processes and tasks")
    TASKS_ACT = "tasks:act", _("Act on tasks")
    WEBHOOKS_RECEIVE = "webhooks:receive", _("Receive webhooks")


def scopes_validate(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(scope, str) for scope in value):
        raise ValidationError(_("Scopes must be a list of names."))
    unknown = sorted(set(value) - set(Scope.values))
    if unknown:
        raise ValidationError(
            _("Unknown scope %(unknown)s; the scopes are %(known)s."),
            params={"unknown": ", ".join(unknown), "known": ", ".join(Scope.values)},
        )


def addresses_parse(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks of an allow-list: one IP address or CIDR per line, blank lines ignored."""
    networks = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            networks.append(ipaddress.ip_network(line, strict=False))
        except ValueError:
            raise ValidationError(
                _("%(line)s is not an IP address or network (CIDR)."), params={"line": line}
            ) from None
    return networks


def addresses_validate(value: str) -> None:
    addresses_parse(value)


class ApiClient(models.Model):
    """A system that calls the API: what it may do (scopes) and from where (allowed addresses)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    scopes = models.JSONField(default=list, validators=[scopes_validate])
    allowed_addresses = models.TextField(
        blank=True,
        validators=[addresses_validate],
        help_text=_("One IP address or network (CIDR) per line; empty: any address."),
    )
    active = models.BooleanField(default=True)
    acts_as = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="api_clients",
        help_text=_(
            "The service account whose rights the client uses where a person is needed: acting on "
            "tasks (the authorization gate) and starting requests that have a requester. Empty: the "
            "client only starts process types a system may start (orders) and reads."
        ),
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])

    def address_allowed(self, remote_addr: str | None) -> bool:
        networks = addresses_parse(self.allowed_addresses or "")
        if not networks:
            return True
        try:
            address = ipaddress.ip_address(remote_addr or "")
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address.version == network.version and address in network for network in networks)


class Expiring(models.Model):
    """A credential of a client that works until it is revoked or, after a rotation, until its
    overlap ends (`expires_at`)."""

    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class ApiToken(Expiring):
    """One token of a client, `ap_<prefix>_<secret>`: the prefix finds the row, the secret's
    SHA-256 (`digest`) proves it. A rotation gives the old tokens an `expires_at` (the overlap)."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="tokens")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"ap_{self.prefix}_…"


class IdempotencyRecord(models.Model):
    """One `Idempotency-Key` of one caller (IETF draft-ietf-httpapi-idempotency-key-header): the
    request it was first used with (method, path and the SHA-256 of its canonical body) and, once
    that request finished, its response, replayed to every retry until `expires_at`.

    The row is inserted, and committed, before the request does its work: the unique (caller, key)
    lets exactly one of two concurrent requests with one key run (processes/api/idempotency.py).
    """

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", _("In flight")
        DONE = "done", _("Done")

    #: `client:<id>` or `user:<id>`: keys are scoped per caller.
    caller = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=State.choices, default=State.IN_FLIGHT)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.TextField(blank=True)
    location = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["caller", "key"], name="idempotency_caller_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.caller} {self.key} ({self.state})"


class SigningKey(Expiring):
    """A client's key for Standard Webhooks signatures: the callbacks it sends us are verified
    with it, and the webhooks we send it are signed with it (processes/api/signing.py). Only a
    random salt is stored; the key is derived from it under SECRET_KEY. A rotation gives the old
    keys an `expires_at` (the overlap), when both sign and both verify."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="signing_keys")
    salt = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        verbose_name = _("signing key")
        verbose_name_plural = _("signing keys")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.client} key {self.created_at:%Y-%m-%d %H:%M}"
