"""Action links leave the email outbox: the secret is minted at delivery, never stored.

Until now an escalation email's Approve/Reject URLs (each with its raw token) were stored in the
outbox row's text and HTML, so anyone reading that table, a backup or the admin could act as the
manager. From now on the row holds placeholders (`[[action-link:<key>]]`) that name an
`ActionToken`, and the sender mints the secret when it hands the email over (ADR 0007).

Rows written before this migration are scrubbed:
- an email not sent yet (pending, or failed and retryable from the admin): each link becomes the
  placeholder of its token, whose current hash is replaced by one nobody knows, so the stored
  URL stops working now and the email still goes out with fresh, working links. A link whose
  token is gone (pruned) becomes the redaction marker;
- an email already sent: each link becomes the redaction marker `[link removed]`. Its tokens are
  left as they are, so the links in the addressee's mailbox keep working until they expire
  (`ACTION_LINK_TTL_HOURS`); see docs/security-notes-secrets.md for expiring them too.
"""

import hashlib
import re
import secrets

import django.db.models.deletion
from django.db import migrations, models

LINK_URL = re.compile(r"""[^\s"'<>()]*/links/([A-Za-z0-9_-]{43})/""")
REDACTED = "[link removed]"


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def scrub_outbox(apps, schema_editor):
    OutgoingEmail = apps.get_model("processes", "OutgoingEmail")
    ActionToken = apps.get_model("processes", "ActionToken")
    rows = OutgoingEmail.objects.filter(
        models.Q(text__contains="/links/") | models.Q(html__contains="/links/")
    )
    for email in rows.iterator():
        deliverable = email.status != "sent"
        placeholders: dict[str, str] = {}

        def replace(match, email=email, deliverable=deliverable, placeholders=placeholders) -> str:
            raw = match.group(1)
            if not deliverable:
                return REDACTED
            if raw not in placeholders:
                token = ActionToken.objects.filter(token_hash=_hash(raw)).first()
                if token is None:
                    placeholders[raw] = REDACTED
                else:
                    token.placeholder = token.placeholder or secrets.token_urlsafe(16)
                    token.email = email
                    token.token_hash = _hash(secrets.token_urlsafe(32))  # the stored URL dies now
                    token.minted_at = None
                    token.save(update_fields=["placeholder", "email", "token_hash", "minted_at"])
                    placeholders[raw] = f"[[action-link:{token.placeholder}]]"
            return placeholders[raw]

        email.text = LINK_URL.sub(replace, email.text)
        email.html = LINK_URL.sub(replace, email.html)
        email.save(update_fields=["text", "html"])


class Migration(migrations.Migration):
    dependencies = [
        ("processes", "0013_policyversion_currency"),
    ]

    operations = [
        migrations.AddField(
            model_name="actiontoken",
            name="email",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="processes.outgoingemail",
            ),
        ),
        migrations.AddField(
            model_name="actiontoken",
            name="minted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="actiontoken",
            name="placeholder",
            field=models.CharField(blank=True, editable=False, max_length=32),
        ),
        # The secrets cannot come back: going backwards leaves the rows scrubbed.
        migrations.RunPython(scrub_outbox, migrations.RunPython.noop),
    ]
