"""What an upload must be to become an attachment: size, count, and a type confirmed by its bytes.

The browser's content type is never trusted: the type comes from the file name's extension, and
the file's leading bytes must match that type (a PDF starts with `%PDF-`, a PNG with its
signature, a text file is UTF-8 without NUL bytes). The content type stored and served is ours.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

_ZIP = (b"PK\x03\x04",)
# extension -> (content type served, accepted leading bytes; None: UTF-8 text)
FILE_TYPES: dict[str, tuple[str, tuple[bytes, ...] | None]] = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    "txt": ("text/plain; charset=utf-8", None),
    "csv": ("text/csv; charset=utf-8", None),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", _ZIP),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _ZIP),
    "odt": ("application/vnd.oasis.opendocument.text", _ZIP),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", _ZIP),
}
_SNIFF_BYTES = 4096


@dataclass(frozen=True)
class CheckedUpload:
    upload: Any
    name: str
    content_type: str


def _extension(name: str) -> str:
    return os.path.splitext(name)[1].lower().lstrip(".")


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the sniff boundary is fine
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def _leading_bytes(upload: Any) -> bytes:
    upload.seek(0)
    head = upload.read(_SNIFF_BYTES)
    upload.seek(0)
    return head


def upload_check(upload: Any) -> CheckedUpload:
    """Check one upload against the ATTACHMENTS_* settings; raises ValidationError naming the file."""
    name = os.path.basename(upload.name or "").strip()[:255] or "attachment"
    if upload.size > settings.ATTACHMENTS_MAX_FILE_SIZE:
        raise ValidationError(
            _("%(name)s is %(size)s; files may be at most %(max)s.")
            % {
                "name": name,
                "size": filesizeformat(upload.size),
                "max": filesizeformat(settings.ATTACHMENTS_MAX_FILE_SIZE),
            },
            code="too_large",
        )
    if upload.size == 0:
        raise ValidationError(_("%(name)s is empty.") % {"name": name}, code="empty")
    extension = _extension(name)
    if extension not in settings.ATTACHMENTS_ALLOWED_TYPES or extension not in FILE_TYPES:
        raise ValidationError(
            _("%(name)s: this type of file is not accepted (allowed: %(types)s).")
            % {"name": name, "types": ", ".join(settings.ATTACHMENTS_ALLOWED_TYPES)},
            code="type",
        )
    content_type, signatures = FILE_TYPES[extension]
    head = _leading_bytes(upload)
    matches = _looks_like_text(head) if signatures is None else head.startswith(signatures)
    if not matches:
        raise ValidationError(
            _("%(name)s does not contain what its name says (.%(ext)s).") % {"name": name, "ext": extension},
            code="content",
        )
    return CheckedUpload(upload=upload, name=name, content_type=content_type)


def uploads_check(uploads: list[Any]) -> list[CheckedUpload]:
    """Check a form's uploads: their number, then each one; all errors at once."""
    if len(uploads) > settings.ATTACHMENTS_MAX_FILES:
        raise ValidationError(
            _("Attach at most %(max)d files.") % {"max": settings.ATTACHMENTS_MAX_FILES}, code="too_many"
        )
    checked, errors = [], []
    for upload in uploads:
        try:
            checked.append(upload_check(upload))
        except ValidationError as exc:
            errors.append(exc)
    if errors:  # one message: viewflow's form renderer shows a field's first error only
        raise ValidationError(
            " ".join(message for error in errors for message in error.messages), code="invalid"
        )
    return checked


def sha256_of(upload: Any) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()
