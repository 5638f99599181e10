"""Webhooks in the admin: subscriptions (checked: scope, signing key, events, SSRF guard) with
enable/disable, and the delivery log (read-only) with replay and retry now."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.text import format_lazy
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from processes.admin_base import ReadOnlyAdmin
from processes.api.models import ApiClient, Scope
from processes.webhooks.models import EventType, WebhookDelivery, WebhookEndpoint
from processes.webhooks.services import (
    endpoint_problems,
    webhook_endpoint_disable,
    webhook_endpoint_enable,
    webhook_endpoint_save,
    webhook_replay,
    webhook_retry_now,
)


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        label=_("URL"),
        max_length=500,
        assume_scheme="https",
        help_text=_("Where the events are POSTed (https:// or http://)"),
    )
    events = forms.MultipleChoiceField(choices=EventType.choices, widget=forms.CheckboxSelectMultiple)
    client = forms.ModelChoiceField(
        queryset=ApiClient.objects.all(),
        help_text=format_lazy(
            _(
                "An API client with the scope {scope} and a signing key (the deliveries are signed with its keys)."
            ),
            scope=Scope.WEBHOOKS_RECEIVE,
        ),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["client", "url", "events", "description"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("url") and data.get("client"):
            for field, message in endpoint_problems(client=data["client"], url=data["url"]).items():
                self.add_error(field, ValidationError(message))
        return data


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Subscriptions. A receiver answering 410 Gone disables its endpoint (reason shown)."""

    form = WebhookEndpointForm
    list_display = ["url", "client", "event_list", "active", "disabled_at", "disabled_reason"]
    list_filter = ["active", "client"]
    search_fields = ["url", "client__name", "description"]
    readonly_fields = ["active", "disabled_at", "disabled_reason", "created_at"]
    actions = ["enable", "disable"]

    @admin.display(description=_("events"))
    def event_list(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.events or [])

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        webhook_endpoint_save(endpoint=obj, user=request.user)

    @admin.action(description=_("Enable the selected endpoints"), permissions=["change"])
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            webhook_endpoint_enable(endpoint=endpoint, user=request.user)
        count = queryset.count()
        messages.success(
            request,
            ngettext("%(count)s endpoint enabled.", "%(count)s endpoints enabled.", count) % {"count": count},
        )

    @admin.action(
        description=_("Disable the selected endpoints (cancels their pending deliveries)"),
        permissions=["change"],
    )
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        canceled = sum(
            webhook_endpoint_disable(
                endpoint=endpoint, reason=f"disabled by {request.user}", user=request.user
            )
            for endpoint in queryset.filter(active=True)
        )
        messages.success(
            request,
            ngettext(
                "Endpoints disabled; %(count)s pending delivery canceled.",
                "Endpoints disabled; %(count)s pending deliveries canceled.",
                canceled,
            )
            % {"count": canceled},
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The delivery log: what was sent where, each attempt's outcome, what waits for a retry."""

    list_display = [
        "created_at",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "msg_id",
    ]
    list_filter = ["status", "event_type", "endpoint"]
    search_fields = ["msg_id", "endpoint__url", "=process_id"]
    list_select_related = ["endpoint__client"]
    fields = [
        "endpoint",
        "event_type",
        "msg_id",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "created_at",
        "last_attempt_at",
        "next_attempt_at",
        "delivered_at",
        "process_id",
        "task_id",
        "replay_of",
        "payload_pretty",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # django-stubs types the two apart; names here
    actions = ["replay", "retry_now"]

    @admin.display(description=_("payload"))
    def payload_pretty(self, obj: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))

    def _may_act(self, request: HttpRequest) -> bool:
        if request.user.has_perm("processes.change_webhookdelivery"):
            return True
        messages.error(request, gettext("You may not send webhook deliveries."))
        return False

    @admin.action(description=_("Replay the selected deliveries (same event, same webhook-id)"))
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        if not self._may_act(request):
            return
        done, refused = 0, []
        for delivery in queryset.select_related("endpoint"):
            try:
                webhook_replay(delivery=delivery, user=request.user)
                done += 1
            except ValidationError as exc:
                refused.extend(exc.messages)
        if done:
            messages.success(
                request,
                ngettext("%(count)s delivery queued again.", "%(count)s deliveries queued again.", done)
                % {"count": done},
            )
        for message in sorted(set(refused)):
            messages.error(request, message)

    @admin.action(description=_("Retry the selected failed, canceled or pending deliveries now"))
    def retry_now(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        if not self._may_act(request):
            return
        count = webhook_retry_now(deliveries=list(queryset), user=request.user)
        messages.success(
            request,
            ngettext("%(count)s delivery will be sent now.", "%(count)s deliveries will be sent now.", count)
            % {"count": count},
        )
