"""API clients in the admin: scopes and allowed addresses, tokens read-only (never a digest).

A token is shown once, on the page that answers the action that made it (the add form, "Rotate
token"), never in a message: messages travel in a cookie or the session.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from processes.api.keys import signing_key_rotate
from processes.api.models import ApiClient, ApiToken, Scope, SigningKey
from processes.api.services import api_token_issue_first, api_token_revoke, api_token_rotate


class ApiClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = ApiClient
        fields = ["name", "description", "scopes", "allowed_addresses", "acts_as", "active"]


class ApiTokenInline(admin.TabularInline):
    model = ApiToken
    fields = ("prefix", "created_at", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SigningKeyInline(admin.TabularInline):
    model = SigningKey
    fields = ("created_at", "expires_at", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = "Signing keys (Standard Webhooks: callbacks in, webhooks out)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def token_page(
    request: HttpRequest, client: ApiClient, token: str, what: str, *, signing: bool = False
) -> HttpResponse:
    response = TemplateResponse(
        request,
        "admin/processes/apiclient/token.html",
        {
            **admin.site.each_context(request),
            "title": f"{what}: {client.name}",
            "client": client,
            "token": token,
            "signing": signing,
            "opts": ApiClient._meta,
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    form = ApiClientForm
    list_display = ["name", "scopes", "active", "created_at", "created_by"]
    list_filter = ["active"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "created_by"]
    inlines = [ApiTokenInline, SigningKeyInline]
    actions = ["rotate_token", "revoke_tokens", "rotate_signing_key"]

    def get_inlines(self, request: HttpRequest, obj: ApiClient | None) -> list[Any]:
        # A new client has no token or key yet (its first token is made on save).
        return list(self.inlines) if obj is not None else []

    def save_model(self, request: HttpRequest, obj: ApiClient, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)
        if not change:
            request._api_new_token = api_token_issue_first(client=obj, user=request.user)  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: ApiClient, post_url_continue: str | None = None
    ) -> HttpResponse:
        token = getattr(request, "_api_new_token", None)
        if token:
            return token_page(request, obj, token, "New API client")
        return super().response_add(request, obj, post_url_continue)

    @admin.action(description="Rotate token (old tokens keep working for 24 hours)")
    def rotate_token(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(
                request, "Rotate one client at a time: its new token is shown once.", messages.ERROR
            )
            return None
        client = queryset.get()
        return token_page(
            request, client, api_token_rotate(client=client, user=request.user), "Token rotated"
        )

    @admin.action(description="Revoke all tokens")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        count = sum(api_token_revoke(target=client, user=request.user) for client in queryset)
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)

    @admin.action(description="Rotate signing secret (old keys keep working for 24 hours)")
    def rotate_signing_key(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(
                request, "Rotate one client at a time: its new secret is shown once.", messages.ERROR
            )
            return None
        client = queryset.get()
        return token_page(
            request,
            client,
            signing_key_rotate(client=client, user=request.user),
            "Signing secret rotated",
            signing=True,
        )
