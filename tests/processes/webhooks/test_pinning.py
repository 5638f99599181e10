"""A delivery connects to the address the SSRF guard checked, with the URL's host in the Host
header and as the TLS server name (so the certificate is checked against the URL's host)."""

from __future__ import annotations

import datetime
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from processes.webhooks import ssrf
from tests.stack import free_port


def _certificate(tmp_path):
    """A self-signed certificate for `localhost` only (its own CA), as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS server on 127.0.0.1 with a certificate for `localhost`; keeps each request's Host
    header and the server name the client sent (SNI)."""
    cert_path, key_path = _certificate(tmp_path)
    seen: dict[str, list[str]] = {"host": [], "sni": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen["host"].append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, format, *args) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name) and None
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    trusting = ssl.create_default_context(cafile=str(cert_path))
    with mock.patch.object(ssrf.ssl, "create_default_context", return_value=trusting):
        yield port, seen
    server.shutdown()
    server.server_close()


def test_https_goes_to_the_checked_address_with_the_urls_host_and_server_name(tls_receiver):
    port, seen = tls_receiver
    destination = ssrf.Destination("https", "localhost", port, "/hooks", ("127.0.0.1",))

    response = ssrf.post_pinned(destination, headers={}, body=b"{}", timeout=5)

    assert response.status == 204
    assert seen["host"] == [f"localhost:{port}"]
    assert seen["sni"] == ["localhost"]


def test_the_certificate_is_checked_against_the_urls_host(tls_receiver):
    port, _seen = tls_receiver
    wrong = ssrf.Destination("https", "portal-hooks.example", port, "/hooks", ("127.0.0.1",))

    with pytest.raises(ssl.SSLCertVerificationError, match=r"portal-hooks\.example"):
        ssrf.post_pinned(wrong, headers={}, body=b"{}", timeout=5)


def test_a_rebinding_answer_after_the_check_changes_nothing(tls_receiver):
    """The connection uses the checked address, whatever the resolver says later."""
    port, seen = tls_receiver
    destination = ssrf.Destination("https", "localhost", port, "/hooks", ("127.0.0.1",))
    real = ssrf.socket.getaddrinfo

    def resolver(host, *args, **kwargs):
        assert host != "localhost", "the host was resolved again"
        return real(host, *args, **kwargs)

    with mock.patch("socket.getaddrinfo", side_effect=resolver):
        assert ssrf.post_pinned(destination, headers={}, body=b"{}", timeout=5).status == 204
    assert seen["host"] == [f"localhost:{port}"]


def test_the_next_checked_address_is_tried_when_one_refuses(tls_receiver):
    port, _seen = tls_receiver
    # Nothing listens on 127.0.0.2 (the receiver binds 127.0.0.1 only).
    destination = ssrf.Destination("https", "localhost", port, "/hooks", ("127.0.0.2", "127.0.0.1"))
    with mock.patch.object(ssrf.socket, "create_connection", wraps=ssrf.socket.create_connection) as connect:
        assert ssrf.post_pinned(destination, headers={}, body=b"{}", timeout=5).status == 204
    assert [call.args[0] for call in connect.call_args_list] == [("127.0.0.2", port), ("127.0.0.1", port)]
