from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from processes.admin_base import ReadOnlyAdmin
from processes.mail.models import OutgoingEmail


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(ReadOnlyAdmin):
    """The outbox: what was sent, what is waiting for a retry, and what was given up.

    The text and HTML are shown as stored: an escalation email's links are placeholders there
    (`[[action-link:…]]`), filled in only in the message handed to the SMTP server."""

    list_display = ["created_at", "kind", "to_address", "subject", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "kind"]
    search_fields = ["to_address", "subject"]
    readonly_fields = [field.name for field in OutgoingEmail._meta.fields]
    actions = ["retry_now"]

    @admin.action(description=_("Retry the selected failed or pending emails now"))
    def retry_now(self, request, queryset):
        if not request.user.has_perm("processes.change_outgoingemail"):
            messages.error(request, gettext("You may not retry emails."))
            return
        count = queryset.exclude(status=OutgoingEmail.Status.SENT).update(
            status=OutgoingEmail.Status.PENDING, next_attempt_at=timezone.now(), attempts=0
        )
        messages.success(
            request,
            ngettext(
                "%(count)s email will be retried by the next sweep.",
                "%(count)s emails will be retried by the next sweep.",
                count,
            )
            % {"count": count},
        )
