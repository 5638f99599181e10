"""Attachments on the start and revise forms: checks, safe storage, nothing left on failure."""

from __future__ import annotations

import hashlib
import os
import re
import time
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from viewflow.workflow.status import STATUS

from processes.attachments.checks import uploads_check
from processes.attachments.models import Attachment
from processes.attachments.services import attachments_add, attachments_sweep_orphans
from processes.purchase.flows import PurchaseFlow
from processes.purchase.models import PurchaseProcess
from processes.purchase.services import purchase_task_decide
from processes.purchase.views import PurchaseRequestStartView
from processes.selectors import process_history
from processes.services import task_claim
from tests.conftest import task_of
from tests.processes.attachments.conftest import PDF, PNG, stored_files, upload

pytestmark = pytest.mark.django_db

REQUEST = {"title": "Standing desk", "amount": "640.00", "currency": "EUR", "justification": "Back pain."}


def test_requester_attaches_files_to_a_new_request(client, alice, attachment_root):
    client.force_login(alice)

    response = client.post(
        PurchaseFlow.start.reverse("execute"),
        {
            **REQUEST,
            # The browser's content type is ignored: ours comes from the extension and the bytes.
            "attachments": [upload("quote.pdf", PDF, "text/html"), upload("../../photo.PNG", PNG)],
        },
    )

    assert response.status_code == 302
    process = PurchaseProcess.objects.get()
    quote, photo = Attachment.objects.order_by("pk")
    assert (quote.process_id, quote.uploaded_by, quote.task) == (process.pk, alice, None)
    assert (quote.original_name, quote.content_type, quote.size) == ("quote.pdf", "application/pdf", len(PDF))
    assert quote.sha256 == hashlib.sha256(PDF).hexdigest()
    assert (photo.original_name, photo.content_type) == ("photo.PNG", "image/png")
    files = stored_files(attachment_root)
    assert len(files) == 2
    for attachment in (quote, photo):  # random names, no extension, nothing from the uploader
        assert (attachment_root / attachment.storage_name).read_bytes() in (PDF, PNG)
        assert "." not in attachment.storage_name
        assert "quote" not in attachment.storage_name
        assert oct(os.stat(attachment_root / attachment.storage_name).st_mode & 0o777) == "0o600"
    assert {"what": "Attached", "detail": "quote.pdf, photo.PNG"}.items() <= process_history(process)[
        -1
    ].items()


def test_the_start_form_offers_multiple_files(client, alice):
    client.force_login(alice)

    page = client.get(PurchaseFlow.start.reverse("execute")).content.decode()

    assert 'enctype="multipart/form-data"' in page
    assert "<vf-field-file" in page
    assert 'multiple="' in page
    assert "up to 5 files of at most 10.0\xa0MB each" in page


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([upload("setup.exe", b"MZ\x90\x00")], "setup.exe: this type of file is not accepted"),
        (
            [upload("invoice.pdf", b"<html><script>alert(1)</script>")],
            "invoice.pdf does not contain what its name says",
        ),
        ([upload("notes.txt", b"\x00\x01binary")], "notes.txt does not contain what its name says"),
        ([upload("photo.png", PDF, "image/png")], "photo.png does not contain what its name says"),
        ([upload(f"q{i}.pdf") for i in range(6)], "Attach at most 5 files."),
        ([upload("big.pdf", PDF + b"x" * 2100)], "big.pdf is 2.1\xa0KB; files may be at most 1.0\xa0KB."),
    ],
)
def test_a_rejected_file_shows_on_the_form_and_creates_nothing(
    client, alice, settings, attachment_root, files, message
):
    settings.ATTACHMENTS_MAX_FILE_SIZE = (
        1024 if "big" in files[0].name else settings.ATTACHMENTS_MAX_FILE_SIZE
    )
    client.force_login(alice)

    response = client.post(PurchaseFlow.start.reverse("execute"), {**REQUEST, "attachments": files})

    assert response.status_code == 200
    assert message in response.content.decode().replace("&#x27;", "'")
    assert PurchaseProcess.objects.count() == 0
    assert Attachment.objects.count() == 0
    assert stored_files(attachment_root) == []


def test_an_invalid_request_keeps_no_file_even_with_a_valid_attachment(client, alice, attachment_root):
    client.force_login(alice)

    response = client.post(
        PurchaseFlow.start.reverse("execute"), {**REQUEST, "amount": "-1", "attachments": [upload()]}
    )

    assert response.status_code == 200
    assert PurchaseProcess.objects.count() == 0
    assert stored_files(attachment_root) == []


def test_allowed_types_come_from_the_settings(settings):
    settings.ATTACHMENTS_ALLOWED_TYPES = ["png"]

    with pytest.raises(
        ValidationError, match=re.escape("quote.pdf: this type of file is not accepted (allowed: png)")
    ):
        uploads_check([upload()])


def test_a_failure_while_storing_deletes_the_files_already_written(submit_request, alice, attachment_root):
    process = submit_request()
    real_save = Attachment.save
    calls = []

    def fail_second(self, *args, **kwargs):
        calls.append(self)
        if len(calls) == 2:
            raise RuntimeError("database gone")
        return real_save(self, *args, **kwargs)

    with mock.patch.object(Attachment, "save", fail_second), pytest.raises(RuntimeError):
        attachments_add(
            process=process, uploads=uploads_check([upload("a.pdf"), upload("b.pdf")]), user=alice
        )

    assert stored_files(attachment_root) == []


def test_a_failure_later_in_the_request_leaves_files_the_sweep_removes(client, alice, attachment_root):
    client.force_login(alice)
    # Fails after the service returned, still inside the request's transaction.
    failing = mock.patch.object(PurchaseRequestStartView, "get_success_url", side_effect=RuntimeError("boom"))
    with failing, pytest.raises(RuntimeError):
        client.post(PurchaseFlow.start.reverse("execute"), {**REQUEST, "attachments": [upload()]})
    # The transaction rolled back after the file was written; no row, so an orphan.
    assert PurchaseProcess.objects.count() == 0
    assert Attachment.objects.count() == 0
    (orphan,) = stored_files(attachment_root)

    assert attachments_sweep_orphans() == 0  # younger than the grace period: may be in flight
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    assert attachments_sweep_orphans() == 1
    assert stored_files(attachment_root) == []


def test_the_sweep_keeps_files_that_have_a_row(submit_request, alice, attachment_root):
    process = submit_request()
    (attachment,) = attachments_add(process=process, uploads=uploads_check([upload()]), user=alice)
    old = time.time() - 7200
    os.utime(attachment_root / attachment.storage_name, (old, old))

    assert attachments_sweep_orphans() == 0
    assert (attachment_root / attachment.storage_name).exists()


def test_a_revision_brings_more_attachments(client, submit_request, alice, olivia):
    process = submit_request()
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    purchase_task_decide(task=approve, user=olivia, approved=False, comment="Need a quote.")
    revise = task_of(process, "revise")
    client.force_login(alice)

    response = client.post(
        revise.reverse("execute"),
        {
            **REQUEST,
            "decision": "resubmit",
            "comment": "Quote attached.",
            "attachments": [upload("quote.pdf")],
        },
    )

    assert response.status_code == 302
    (attachment,) = Attachment.objects.all()
    assert (attachment.task_id, attachment.uploaded_by) == (revise.pk, alice)
    assert task_of(process, "approve").status == STATUS.NEW  # the chain restarted
