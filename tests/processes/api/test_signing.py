"""Standard Webhooks signatures: the spec's test vector, tolerance, rotation, and keys never stored."""

from __future__ import annotations

import base64
import time
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from processes.api import signing
from processes.api.keys import signed_message_verify, signing_key_rotate, signing_keys_for_sending
from processes.api.models import SigningKey
from processes.models import AuditEvent

# The example of the Standard Webhooks spec (its reference libraries test against it).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specs_example_signs_and_verifies():
    key = signing.secret_parse(SPEC_SECRET)
    assert signing.signature(key, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE
    headers = {"Webhook-Id": SPEC_ID, "Webhook-Timestamp": str(SPEC_TS), "Webhook-Signature": SPEC_SIGNATURE}
    assert signing.verify([key], headers, SPEC_BODY, now=SPEC_TS + 10) == (SPEC_ID, SPEC_TS)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"webhook-signature": ""}, "missing-headers"),
        ({"webhook-id": ""}, "missing-headers"),
        ({"webhook-timestamp": "soon"}, "bad-timestamp"),
        ({"webhook-timestamp": str(SPEC_TS - 301)}, "stale"),
        ({"webhook-timestamp": str(SPEC_TS + 301)}, "stale"),
        ({"webhook-signature": "v1,AAAA"}, "bad-signature"),
        ({"webhook-id": "msg_other"}, "bad-signature"),
    ],
)
def test_missing_stale_future_or_wrong_signatures_are_refused(change, reason):
    key = signing.secret_parse(SPEC_SECRET)
    headers = {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS), "webhook-signature": SPEC_SIGNATURE}
    headers.update(change)
    with pytest.raises(signing.SignatureInvalid) as refused:
        signing.verify([key], headers, SPEC_BODY, now=SPEC_TS)
    assert refused.value.reason == reason


def test_a_changed_body_is_refused():
    key = signing.secret_parse(SPEC_SECRET)
    headers = signing.headers_sign([key], "msg_1", b"{}")
    with pytest.raises(signing.SignatureInvalid):
        signing.verify([key], headers, b'{"x": 1}')


def test_several_signatures_during_a_rotation_verify_with_either_key():
    old, new = b"o" * 32, b"n" * 32
    headers = signing.headers_sign([new, old], "msg_2", b"{}")
    assert len(headers["webhook-signature"].split()) == 2
    assert signing.verify([old], headers, b"{}")[0] == "msg_2"
    assert signing.verify([new], headers, b"{}")[0] == "msg_2"


def test_a_secret_text_must_be_whsec_base64():
    with pytest.raises(ValueError, match="whsec_"):
        signing.secret_parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    with pytest.raises(ValueError, match="base64"):
        signing.secret_parse("whsec_not base64!")


@pytest.mark.django_db
def test_a_clients_key_is_never_stored_and_rotation_overlaps(make_client):
    client, _token = make_client("carrier", ["webhooks:receive"])
    first = signing_key_rotate(client=client)
    row = SigningKey.objects.get(client=client)
    assert first.startswith("whsec_")
    assert base64.b64decode(first[6:]).hex() not in str(SigningKey.objects.values().get())
    assert first[6:] not in str(SigningKey.objects.values().get())
    assert row.expires_at is None

    body = b'{"ok": true}'
    signed_first = signing.headers_sign([signing.secret_parse(first)], "msg_a", body)
    assert signed_message_verify(client=client, headers=signed_first, body=body) == (
        "msg_a",
        int(signed_first["webhook-timestamp"]),
    )

    second = signing_key_rotate(client=client, overlap=timedelta(hours=1))
    assert second != first
    assert len(signing_keys_for_sending(client)) == 2  # both sign during the overlap
    signed_second = signing.headers_sign([signing.secret_parse(second)], "msg_b", body)
    signed_first = signing.headers_sign([signing.secret_parse(first)], "msg_c", body)
    assert signed_message_verify(client=client, headers=signed_second, body=body)[0] == "msg_b"
    assert signed_message_verify(client=client, headers=signed_first, body=body)[0] == "msg_c"

    with time_machine.travel(timezone.now() + timedelta(hours=1, seconds=1)):
        assert len(signing_keys_for_sending(client)) == 1
        fresh = signing.headers_sign([signing.secret_parse(first)], "msg_d", body)
        with pytest.raises(signing.SignatureInvalid):
            signed_message_verify(client=client, headers=fresh, body=body)
    assert AuditEvent.objects.filter(action="api.signing_key_rotated").count() == 2


@pytest.mark.django_db
def test_a_client_without_a_key_verifies_nothing(make_client):
    client, _token = make_client("silent", ["webhooks:receive"])
    headers = signing.headers_sign([b"k" * 32], "msg_x", b"{}")
    with pytest.raises(signing.SignatureInvalid, match="no signing key"):
        signed_message_verify(client=client, headers=headers, body=b"{}")


@pytest.mark.django_db
def test_a_secret_key_rotation_keeps_verifying_through_the_fallbacks(make_client, settings):
    client, _token = make_client("carrier", ["webhooks:receive"])
    secret = signing_key_rotate(client=client)
    headers = signing.headers_sign([signing.secret_parse(secret)], "msg_f", b"{}")
    with override_settings(SECRET_KEY="another-" + "x" * 50, SECRET_KEY_FALLBACKS=[settings.SECRET_KEY]):
        assert signed_message_verify(client=client, headers=headers, body=b"{}")[0] == "msg_f"
    with (
        override_settings(SECRET_KEY="another-" + "x" * 50, SECRET_KEY_FALLBACKS=[]),
        pytest.raises(signing.SignatureInvalid),
    ):
        signed_message_verify(client=client, headers=headers, body=b"{}")


@pytest.mark.django_db
def test_the_command_prints_only_the_new_secret(make_client, capsys):
    client, _token = make_client("carrier", ["webhooks:receive"])
    call_command("api_client", "secret", "carrier", "--overlap-hours", "0")
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("whsec_")
    assert "\n" not in printed
    body = b"{}"
    headers = signing.headers_sign(
        [signing.secret_parse(printed)], "msg_cmd", body, timestamp=int(time.time())
    )
    assert signed_message_verify(client=client, headers=headers, body=body)[0] == "msg_cmd"


@pytest.mark.django_db
def test_the_admin_action_shows_the_secret_once(admin_client, make_client):
    client, _token = make_client("carrier", ["webhooks:receive"])
    response = admin_client.post(
        "/admin/processes/apiclient/",
        {"action": "rotate_signing_key", "_selected_action": [client.pk]},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert b"whsec_" in response.content
    assert SigningKey.objects.filter(client=client).count() == 1
