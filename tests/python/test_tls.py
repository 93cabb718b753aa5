"""Built-in TLS (docs/deployment.md, "TLS"): https and wss on the server's one port, the
client verifying the certificate against a CA it is given, and certificates reloaded while
connections stay up. The CA and certificates are made here, at test time, with the openssl
command line; nothing secret is checked in."""

import json
import socket
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest

import lobbykit
from lobbykit import events as ev
from conftest import TIMEOUT, EventLog, fast_limits


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class Pki:
    """A test CA in `root`, and server certificates it signs."""

    def __init__(self, root: Path, name: str = "ca") -> None:
        self.root = root
        self.ca = root / f"{name}.pem"
        self.ca_key = root / f"{name}.key"
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", f"/CN=lobbykit test {name}", "-keyout", str(self.ca_key),
                "-out", str(self.ca), cwd=root)

    def server_cert(self, name: str, host: str = "127.0.0.1") -> tuple:
        """(certificate, key) for `host` (an IP address or a DNS name)."""
        key, csr, cert = (self.root / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
        ext = self.root / f"{name}.ext"
        kind = "IP" if host.replace(".", "").isdigit() else "DNS"
        ext.write_text(f"subjectAltName={kind}:{host}\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={host}",
                "-keyout", str(key), "-out", str(csr), cwd=self.root)
        openssl("x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(self.ca_key),
                "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert),
                cwd=self.root)
        return cert, key


@pytest.fixture
def pki(tmp_path):
    return Pki(tmp_path)


def tls_server(cert, key, **kw) -> lobbykit.Server:
    server = lobbykit.Server(port=0, store_path="", limits=fast_limits(),
                             tls_cert_path=str(cert), tls_key_path=str(key), **kw)
    server.start()
    return server


def peer_cert(port: int, ca: Path) -> bytes:
    """The certificate a new TLS connection to the port is shown (DER)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.getpeercert(binary_form=True)


def test_https_and_wss_on_one_port_with_a_verified_certificate(pki):
    cert, key = pki.server_cert("server")
    server = tls_server(cert, key)
    try:
        ctx = ssl.create_default_context(cafile=str(pki.ca))
        with urllib.request.urlopen(f"https://127.0.0.1:{server.port}/api/health", context=ctx,
                                    timeout=TIMEOUT) as r:
            assert r.status == 200 and json.loads(r.read())["status"] == "ok"
        with pytest.raises(Exception, match="WRONG_VERSION_NUMBER|wrong version|reset|EOF|closed"):
            # Plain HTTP to a TLS port gets no HTTP answer.
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/health", timeout=TIMEOUT)
            raise AssertionError("plain HTTP was answered")
        a = lobbykit.Client(f"wss://127.0.0.1:{server.port}/ws", name="Ada", tls_ca_path=str(pki.ca))
        b = lobbykit.Client(f"wss://127.0.0.1:{server.port}/ws", name="Bob", tls_ca_path=str(pki.ca))
        log = EventLog()
        b.subscribe(log)
        with a, b:
            lobby = a.create_lobby("secure")["lobby"]["id"]
            a.join_lobby(lobby)
            b.join_lobby(lobby)
            a.chat("over TLS")
            log.wait_for(lambda e: isinstance(e, ev.Chat) and e.message.text == "over TLS")
    finally:
        server.stop()


@pytest.mark.parametrize("why", ["unknown CA", "another host name"])
def test_a_certificate_that_does_not_verify_stops_the_client_with_tls_failed(pki, tmp_path, why):
    if why == "unknown CA":
        cert, key = pki.server_cert("server")
        trusted = Pki(tmp_path, "other-ca").ca  # the client trusts another CA
    else:
        cert, key = pki.server_cert("server", host="elsewhere.example")
        trusted = pki.ca
    server = tls_server(cert, key)
    log = EventLog()
    client = lobbykit.Client(f"wss://127.0.0.1:{server.port}/ws", tls_ca_path=str(trusted))
    client.subscribe(log)
    try:
        client.start()
        err = log.wait_for(lambda e: isinstance(e, ev.ErrorEvent) and e.code == "tls_failed")
        assert "certificate" in err.message
        log.wait_for(lambda e: isinstance(e, ev.StateChanged) and e.state == "disconnected")
        assert not server.list_sessions()  # it never got in
    finally:
        client.stop()
        server.stop()


def test_reload_serves_the_new_certificate_and_keeps_open_connections(pki):
    cert, key = pki.server_cert("server")
    server = tls_server(cert, key)
    try:
        before = peer_cert(server.port, pki.ca)
        log = EventLog()
        client = lobbykit.Client(f"wss://127.0.0.1:{server.port}/ws", name="Ada",
                                 tls_ca_path=str(pki.ca))
        client.subscribe(log)
        with client:
            lobby = client.create_lobby("kept")["lobby"]["id"]
            client.join_lobby(lobby)
            # A new certificate in the same files (a renewal), then reload.
            new_cert, new_key = pki.server_cert("renewed")
            cert.write_bytes(new_cert.read_bytes())
            key.write_bytes(new_key.read_bytes())
            server.reload_tls()
            after = peer_cert(server.port, pki.ca)
            assert after != before and after == ssl.PEM_cert_to_DER_cert(new_cert.read_text())
            # The connection made before the reload is the same one, and works.
            client.chat("still here")
            log.wait_for(lambda e: isinstance(e, ev.Chat) and e.message.text == "still here")
            assert sum(1 for e in log.events if isinstance(e, ev.Welcome)) == 1

            # A bad pair (this key is not the certificate's) is refused; the last good
            # certificate stays in use.
            _, other_key = pki.server_cert("unrelated")
            key.write_bytes(other_key.read_bytes())
            with pytest.raises(lobbykit.RequestError) as refused:
                server.reload_tls()
            assert refused.value.code == "bad_tls_files"
            assert "does not belong to the certificate" in str(refused.value)
            assert peer_cert(server.port, pki.ca) == after
    finally:
        server.stop()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_tls_1_1_and_older_are_refused(pki):
    cert, key = pki.server_cert("server")
    server = tls_server(cert, key)
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(str(pki.ca))
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1 at all
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as raw:
            with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION|protocol version"):
                ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        # TLS 1.2 is enough.
        ctx12 = ssl.create_default_context(cafile=str(pki.ca))
        ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as raw:
            with ctx12.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                assert s.version() == "TLSv1.2"
    finally:
        server.stop()


def test_bad_tls_files_stop_the_server_from_starting(pki, tmp_path):
    cert, key = pki.server_cert("server")
    _, other_key = pki.server_cert("other")
    cases = [
        (dict(tls_cert_path=str(cert)), "without its key"),
        (dict(tls_key_path=str(key)), "without a certificate"),
        (dict(tls_cert_path=str(tmp_path / "missing.pem"), tls_key_path=str(key)),
         "cannot read the TLS certificate"),
        (dict(tls_cert_path=str(cert), tls_key_path=str(other_key)),
         "does not belong to the certificate"),
    ]
    for options, says in cases:
        with pytest.raises(lobbykit.StartError, match=says):
            lobbykit.Server(port=0, store_path="", **options)
    plain = lobbykit.Server(port=0, store_path="")
    with pytest.raises(lobbykit.RequestError) as off:
        plain.reload_tls()
    assert off.value.code == "tls_off"
    plain.stop()
