"""Email action links in the admin: read-only. Only hashes are stored (and not shown), so there is
no link to show; the email's placeholder key names no secret."""

from django.contrib import admin

from processes.actionlinks.models import ActionToken
from processes.admin_base import ReadOnlyAdmin


@admin.register(ActionToken)
class ActionTokenAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "action",
        "user",
        "task_id",
        "escalation_level",
        "email_id",
        "minted_at",
        "expires_at",
        "used_at",
    ]
    list_filter = ["action", "used_at", "expires_at"]
    search_fields = ["user__username", "task__id"]
    list_select_related = ["user"]
    exclude = ["token_hash"]
    date_hierarchy = "created_at"
