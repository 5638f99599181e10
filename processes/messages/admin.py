"""Received messages and wait subscriptions, read-only (kept messages expire by the sweep)."""

from django.contrib import admin

from processes.admin_base import ReadOnlyAdmin
from processes.messages.models import MessageSubscription, ReceivedMessage


@admin.register(ReceivedMessage)
class ReceivedMessageAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "client_name",
        "name",
        "correlation_key",
        "status",
        "expires_at",
        "consumed_by",
    ]
    # Not filtered by client: a message the portal made itself has no client name, and the
    # admin's filter would show it as a link without text. Search finds a client's messages.
    list_filter = ["status", "name"]
    search_fields = ["message_id", "correlation_key", "client_name"]
    readonly_fields = [field.name for field in ReceivedMessage._meta.fields]


@admin.register(MessageSubscription)
class MessageSubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "name", "correlation_key", "task", "process"]
    list_filter = ["name"]
    search_fields = ["correlation_key"]
    readonly_fields = [field.name for field in MessageSubscription._meta.fields]
