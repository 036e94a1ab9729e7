"""start_metrics_server(web_config_file=...): TLS and basic auth on the embedded endpoint, read
from a web-config file in the format of Prometheus' exporters, judged by Python's own ssl and
http.client. Certificates are made here with the openssl command-line tool."""

import base64
import http.client
import shutil
import socket
import ssl
import subprocess

import pytest

import marty_metrics as mm

# bcrypt of "s3cret" at cost 4 (the lowest, so that the tests stay fast).
S3CRET_HASH = "$2b$04$.2Xw3se1ZpdyI89/Aj//cOPCYcOo.GgqVjC7Jk7Dh3D2otPvrB86y"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command-line tool")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")

    def run(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
        "-out", "ca.crt", "-days", "2", "-subj", "/CN=python-test-ca")
    for name, san in (("server", "IP:127.0.0.1,DNS:localhost"), ("client", "DNS:client.example")):
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={name}")
        (directory / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")
    return directory


def _context(pki, client_certificate=True):
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if client_certificate:
        context.load_cert_chain(str(pki / "client.crt"), str(pki / "client.key"))
    return context


def _get(port, path, pki, password=None, client_certificate=True):
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10,
                                             context=_context(pki, client_certificate))
    headers = {}
    if password is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"prometheus:{password}".encode()).decode()
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def test_tls_with_client_certificates_and_basic_auth(pki):
    config = pki / "web.yml"
    config.write_text(f"""tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
basic_auth_users:
  prometheus: {S3CRET_HASH}
http_server_config:
  headers:
    X-Frame-Options: deny
""")
    mm.Counter("python_tls_requests", "Requests, over TLS.").inc(5)
    try:
        server = mm.start_metrics_server("python-tls", metrics_port=0, health_port=0, bind_address="127.0.0.1",
                                         web_config_file=config)
    except ValueError as error:
        # The sanitizer build of the library is made without its TLS trait (no BoringSSL).
        if "has no TLS" in str(error):
            pytest.skip("this build of the library has no TLS: %s" % error)
        raise
    try:
        status, headers, body = _get(server.metrics_port, "/metrics", pki, password="s3cret")
        assert status == 200
        assert "python_tls_requests_total 5.0" in body
        assert headers["X-Frame-Options"] == "deny"
        for password in (None, "wrong"):
            status, headers, body = _get(server.metrics_port, "/metrics", pki, password=password)
            assert status == 401
            assert headers["WWW-Authenticate"].startswith("Basic ")
            assert "python_tls_requests" not in body
        # No client certificate: the handshake is refused.
        with pytest.raises((ssl.SSLError, ConnectionError)):
            _get(server.metrics_port, "/metrics", pki, password="s3cret", client_certificate=False)
        # Plain HTTP on the TLS port: a 400 that says why.
        with socket.create_connection(("127.0.0.1", server.metrics_port), timeout=10) as raw:
            raw.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while chunk := raw.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.0 400")
        assert b"Client sent an HTTP request to an HTTPS server" in answer
        # The health port stays plain HTTP (kubelet).
        connection = http.client.HTTPConnection("127.0.0.1", server.health_port, timeout=10)
        connection.request("GET", "/health/live")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        server.stop()


def test_an_unusable_web_config_raises_and_serves_nothing(tmp_path):
    config = tmp_path / "web.yml"
    config.write_text("tls_server_config:\n  cert_file: absent.crt\n  key_file: absent.key\n")
    with pytest.raises(ValueError, match="absent.crt|has no TLS"):
        mm.start_metrics_server("python-tls", metrics_port=0, health_port=0, bind_address="127.0.0.1",
                                web_config_file=config)
    config.write_text("basic_auth_users:\n  prometheus: plaintext\n")
    with pytest.raises(ValueError, match="not a bcrypt hash"):
        mm.start_metrics_server("python-tls", metrics_port=0, health_port=0, bind_address="127.0.0.1",
                                web_config_file=str(config))
    assert mm.get_metrics_server() is None or mm.get_metrics_server()._stopped
