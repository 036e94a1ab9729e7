"""TLS and basic auth on the metrics endpoint, end to end (MARTY_METRICS_WEB_CONFIG): a web
config file in the format of Prometheus' exporter-toolkit, certificates made here with the
openssl CLI (a CA, a server certificate for IP:127.0.0.1 and DNS:localhost, a client
certificate, and a rogue CA with a client certificate of its own), and the real tools as
judges:
  - promtool check web-config accepts every web config written here, promtool check config
    every Prometheus configuration;
  - a real Prometheus scrapes the demo over TLS, mutual TLS and basic auth; a job with a wrong
    password is down with a 401, one without a client certificate is down too;
  - curl and Python's ssl/http.client see the refusals: 401 with a Basic challenge and nothing
    rendered, failed handshakes without a client certificate or with a rogue one, plain HTTP
    on the TLS port refused, the health port still plain HTTP, the configured header on every
    answer of the metrics port;
  - a certificate replaced on disk is served to new connections without a restart, and an
    invalid replacement leaves the previous one serving;
  - the C service (through the C ABI) reads the same variable.

What "plain HTTP on the TLS port is refused" accepts (decided here): either Go's answer,
"HTTP/1.0 400 Bad Request" with "Client sent an HTTP request to an HTTPS server" in the body
and then the connection closed, or the connection closed (EOF or reset) with no byte sent at
all. Anything else (a 200, metrics, a TLS alert record, a connection left open) fails.

Each test starts its own services (127.0.0.1 only, free ports) and stops them by pid; the
certificates are made once per module (read only; the reload test copies what it changes).
Needs the openssl and curl command-line tools besides Prometheus.
"""

import base64
import hashlib
import http.client
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from deploy_support import Prometheus, Service, free_port, http_get, service_env, unavailable, wait_until

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # deprecated (removed in 3.13); the venv's Python is 3.11

USER = "prometheus"
PASSWORD = "s3cret-scrape-password"
WRONG_PASSWORD = "not-the-password"
HEADER = ("X-Frame-Options", "deny")
GOOD_JOB = "marty-tls"
WRONG_PASSWORD_JOB = "marty-tls-wrong-password"
NO_CLIENT_CERT_JOB = "marty-tls-no-client-cert"
PLAIN_HTTP_REFUSAL = b"Client sent an HTTP request to an HTTPS server"

OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


# ---- Certificates (openssl CLI) ---------------------------------------------------------------

def openssl(*args, cwd):
    result = subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, f"openssl {' '.join(map(str, args))}:\n{result.stderr}"
    return result.stdout


class Pki:
    """Keys and certificates in one folder, made with the openssl CLI: name.key, name.crt."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "openssl.cnf"
        self.config.write_text(OPENSSL_CONFIG)

    def path(self, name):
        return self.dir / name

    def key(self, name, kind="rsa"):
        """A new private key (PKCS#8 PEM, openssl 3's default): RSA 2048 or EC P-256."""
        options = (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"] if kind == "rsa"
                   else ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])
        openssl("genpkey", *options, "-out", f"{name}.key", cwd=self.dir)
        return self.path(f"{name}.key")

    def ca(self, name, common_name):
        self.key(name)
        openssl("req", "-x509", "-new", "-key", f"{name}.key", "-subj", f"/CN={common_name}",
                "-days", "2", "-set_serial", serial(), "-config", self.config, "-extensions", "ca",
                "-out", f"{name}.crt", cwd=self.dir)
        return self.path(f"{name}.crt")

    def leaf(self, name, ca, profile, key=None, key_kind="rsa"):
        """A certificate signed by the CA `ca` (server or client profile), for the key
        `key` (a path) or for a new key name.key."""
        if key is None:
            key = self.key(name, key_kind)
        openssl("req", "-new", "-key", key, "-subj", f"/CN={name}", "-config", self.config,
                "-out", f"{name}.csr", cwd=self.dir)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
                "-set_serial", serial(), "-days", "2", "-extfile", self.config,
                "-extensions", profile, "-out", f"{name}.crt", cwd=self.dir)
        return self.path(f"{name}.crt")

    def verifies(self, cert, ca):
        result = subprocess.run(["openssl", "verify", "-CAfile", self.path(f"{ca}.crt"), cert],
                                capture_output=True, text=True, timeout=30)
        return result.returncode == 0


def serial():
    return str(secrets.randbits(62) + 1)


def file_fingerprint(cert_path):
    """SHA-256 of a PEM certificate's DER form (what getpeercert(binary_form=True) hashes to)."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(Path(cert_path).read_text())).hexdigest()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if not shutil.which("openssl"):
        unavailable("the openssl command-line tool is needed (apt-get install openssl)")
    pki = Pki(tmp_path_factory.mktemp("pki"))
    pki.ca("ca", "Marty test CA")
    pki.leaf("server", "ca", "server")
    pki.leaf("client", "ca", "client")
    pki.ca("rogue-ca", "Rogue CA")
    pki.leaf("rogue-client", "rogue-ca", "client")
    return pki


@pytest.fixture(scope="session")
def curl_binary():
    path = shutil.which("curl")
    if not path:
        unavailable("curl is needed (apt-get install curl)")
    return path


# ---- Web configs and bcrypt -------------------------------------------------------------------

def bcrypt_hash(password):
    """A $2b$ hash (cost 10) by Python 3.11's crypt module (deprecated, hence the silence)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2 ** 10))
        assert hashed.startswith("$2b$10$") and crypt.crypt(password, hashed) == hashed, hashed
    return hashed


def write_web_config(path, promtool, *, cert="server.crt", key="server.key", client_auth=None,
                     client_ca="ca.crt", users=None, headers=None):
    """Writes a web config (paths relative to its own folder, as exporter-toolkit resolves
    them) and has promtool check it; returns its path."""
    tls = {"cert_file": str(cert), "key_file": str(key)}
    if client_auth:
        tls["client_auth_type"] = client_auth
        if client_auth != "NoClientCert":  # exporter-toolkit refuses a CA with NoClientCert
            tls["client_ca_file"] = str(client_ca)
    tls["min_version"] = "TLS12"
    document = {"tls_server_config": tls}
    if users:
        document["basic_auth_users"] = {user: bcrypt_hash(password) for user, password in users.items()}
    if headers:
        document["http_server_config"] = {"headers": dict(headers)}
    path = Path(path)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    check = subprocess.run([promtool, "check", "web-config", str(path)], capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0, f"promtool check web-config {path}:\n{check.stdout}{check.stderr}\n{path.read_text()}"
    return path


def copy_pki(pki, directory, *names):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(pki.path(name), directory / name)
    return directory


def secured_config(pki, promtool, directory, client_auth="RequireAndVerifyClientCert"):
    """The full web config (TLS 1.2+, client certificates, basic auth, a header) in its own
    folder, next to copies of the files it names."""
    directory = copy_pki(pki, directory, "server.crt", "server.key", "ca.crt")
    return write_web_config(directory / "web-config.yml", promtool, client_auth=client_auth,
                            users={USER: PASSWORD}, headers=dict([HEADER]))


# ---- Services ---------------------------------------------------------------------------------

@contextmanager
def marty_service(name, command, work_dir, web_config, **env):
    """Starts a Marty process with MARTY_METRICS_WEB_CONFIG, waits for its plain-HTTP health
    port to answer /health/live and its metrics port to accept connections (not for TLS:
    what the metrics port speaks is for the tests to find out), stops it by its pid."""
    metrics_port, health_port = free_port(), free_port()
    process = Service(name, command, service_env(metrics_port, health_port,
                                                 MARTY_METRICS_WEB_CONFIG=web_config, **env), work_dir)
    process.metrics_port, process.health_port = metrics_port, health_port

    def started():
        if not process.alive():
            raise AssertionError(f"{name} exited with {process.process.returncode}:\n{process.log()[-3000:]}")
        if http_get(f"http://127.0.0.1:{health_port}/health/live", timeout=2)[0] != 200:
            return False
        with socket.create_connection(("127.0.0.1", metrics_port), timeout=2):
            return True

    try:
        try:
            wait_until(started, 30, what=f"{name} to start (health port, metrics port open)")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{name}'s output:\n{process.log()[-3000:]}") from None
        yield process
    finally:
        process.stop()


def demo(demo_binary, work_dir, web_config, name="marty-demo"):
    return marty_service(name, [demo_binary, "csca-service"], work_dir, web_config)


# ---- Clients ----------------------------------------------------------------------------------

def tls_context(ca, cert=None, key=None):
    context = ssl.create_default_context(cafile=str(ca))  # verifies the server's certificate
    if cert:
        context.load_cert_chain(str(cert), str(key))
    return context


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def https_get(port, path, ca, cert=None, key=None, auth=None, timeout=5):
    """(status, headers, body) over TLS with Python's http.client; TLS errors raise."""
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                             context=tls_context(ca, cert, key))
    try:
        connection.request("GET", path, headers={"Authorization": basic(*auth)} if auth else {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def curl(curl_binary, url, *args):
    """(exit code, status or None, {lower-case header: value}, body bytes, stderr) of one curl
    request (no proxy, 5 s at most)."""
    result = subprocess.run([curl_binary, "-sS", "-i", "--noproxy", "*", "--max-time", "5", *map(str, args), url],
                            capture_output=True, timeout=30)
    status, headers, body = None, {}, b""
    if result.stdout:
        head, _, body = result.stdout.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        status = int(lines[0].split()[1])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return result.returncode, status, headers, body, result.stderr.decode(errors="replace")


def tls_attempt(port, ca, cert=None, key=None, request=None, max_version=None):
    """A raw TLS exchange: handshake, one request, read until the server closes. Returns
    (bytes received, the error that ended it or None). Handshake failures are returned, not
    raised; with TLS 1.3 a refused client certificate shows at the first read."""
    context = tls_context(ca, cert, key)
    if max_version:
        context.maximum_version = max_version
    request = request or (f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                          f"Authorization: {basic(USER, PASSWORD)}\r\nConnection: close\r\n\r\n").encode()
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(request)
                while chunk := tls.recv(65536):
                    received += chunk
        except (ssl.SSLError, ConnectionError, socket.timeout) as error:
            return received, error
    return received, None


def served_fingerprint(port, ca):
    """SHA-256 of the certificate a new TLS connection is given (verified against `ca`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with tls_context(ca).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def plain_http_exchange(port, request):
    """Sends plain HTTP bytes; returns (bytes received, closed by the server?)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(request)
        try:
            while chunk := raw.recv(65536):
                received += chunk
        except ConnectionResetError:
            return received, True
        except socket.timeout:
            return received, False
    return received, True


def header(headers, name):
    """A header of http.client's message (any case) or of curl()'s dict (lower case)."""
    return headers.get(name) or headers.get(name.lower())


def assert_header(headers, what):
    name, value = HEADER
    got = header(headers, name)
    assert got is not None and got.lower() == value, f"{name}: {value} missing on {what}: {dict(headers)}"


def assert_unauthorized(status, headers, body, what):
    assert status == 401, f"{what}: expected 401, got {status}: {body[:300]!r}"
    challenge = header(headers, "WWW-Authenticate") or ""
    assert challenge.startswith("Basic realm="), f"{what}: WWW-Authenticate {challenge!r}"
    assert b"marty_" not in body and b"process_" not in body, f"{what}: metrics in the 401's body: {body[:300]!r}"


# ---- The tests --------------------------------------------------------------------------------

def test_certificates_and_web_configs_pass_the_real_tools(pki, promtool, tmp_path):
    """The PKI is what the other tests assume (openssl verify), and promtool check web-config
    accepts each shape of web config written here (write_web_config asserts it), including the
    relative paths."""
    assert pki.verifies(pki.path("server.crt"), "ca")
    assert pki.verifies(pki.path("client.crt"), "ca")
    assert pki.verifies(pki.path("rogue-client.crt"), "rogue-ca")
    assert not pki.verifies(pki.path("rogue-client.crt"), "ca")
    san = openssl("x509", "-in", pki.path("server.crt"), "-noout", "-ext", "subjectAltName", cwd=pki.dir)
    assert "IP Address:127.0.0.1" in san and "DNS:localhost" in san, san
    for mode in (None, "NoClientCert", "RequestClientCert", "RequireAnyClientCert",
                 "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"):
        folder = tmp_path / (mode or "default")
        copy_pki(pki, folder, "server.crt", "server.key", "ca.crt")
        write_web_config(folder / "web-config.yml", promtool, client_auth=mode,
                         users={USER: PASSWORD, "other": "x"}, headers=dict([HEADER]))
    # And a wrong one is refused, so that the check above means something.
    folder = tmp_path / "mismatch"
    copy_pki(pki, folder, "server.crt", "ca.crt")
    shutil.copy(pki.path("client.key"), folder / "server.key")
    (folder / "web-config.yml").write_text(yaml.safe_dump(
        {"tls_server_config": {"cert_file": "server.crt", "key_file": "server.key"}}))
    check = subprocess.run([promtool, "check", "web-config", str(folder / "web-config.yml")],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode != 0, check.stdout + check.stderr


def test_prometheus_scrapes_the_demo_over_tls_basic_auth_and_mtls(demo_binary, prometheus_binary, promtool,
                                                                   pki, tmp_path):
    web_config = secured_config(pki, promtool, tmp_path / "demo")
    with demo(demo_binary, tmp_path, web_config) as service:
        target = [f"127.0.0.1:{service.metrics_port}"]
        client = {"ca_file": str(pki.path("ca.crt")), "cert_file": str(pki.path("client.crt")),
                  "key_file": str(pki.path("client.key"))}
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {"job_name": GOOD_JOB, "scheme": "https", "tls_config": client,
                 "basic_auth": {"username": USER, "password": PASSWORD},
                 "static_configs": [{"targets": target}]},
                {"job_name": WRONG_PASSWORD_JOB, "scheme": "https", "tls_config": client,
                 "basic_auth": {"username": USER, "password": WRONG_PASSWORD},
                 "static_configs": [{"targets": target}]},
                {"job_name": NO_CLIENT_CERT_JOB, "scheme": "https",
                 "tls_config": {"ca_file": str(pki.path("ca.crt"))},
                 "basic_auth": {"username": USER, "password": PASSWORD},
                 "static_configs": [{"targets": target}]},
            ],
        }
        checked = tmp_path / "prometheus-checked.yml"
        checked.write_text(yaml.safe_dump(config, sort_keys=False))
        check = subprocess.run([promtool, "check", "config", str(checked)], capture_output=True,
                               text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr

        prometheus = Prometheus(prometheus_binary, config, tmp_path)
        try:
            def targets():
                active = prometheus.api("targets")["activeTargets"]
                return {t["scrapePool"]: t for t in active if t["health"] != "unknown"}

            def settled():
                found = targets()
                return found if (found.get(GOOD_JOB, {}).get("health") == "up"
                                 and len(found) == 3) else None

            try:
                found = wait_until(settled, 30, what=f"{GOOD_JOB} up and every job scraped once")
            except AssertionError as error:
                raise AssertionError(f"{error}\ntargets: "
                                     f"{ {p: (t['health'], t['lastError']) for p, t in targets().items()} }"
                                     f"\nthe demo's output:\n{service.log()[-2000:]}") from None
            assert prometheus.values(f'up{{job="{GOOD_JOB}"}}') == {
                frozenset({"__name__": "up", "job": GOOD_JOB, "instance": target[0]}.items()): 1.0}
            marty = wait_until(lambda: prometheus.values(
                f'count({{job="{GOOD_JOB}", __name__=~"marty_.+"}})'), 10, what="marty_ samples")
            assert list(marty.values())[0] > 0
            wait_until(lambda: prometheus.values(f'marty_service_info{{job="{GOOD_JOB}"}}'), 10,
                       what="marty_service_info of the demo")

            wrong = found[WRONG_PASSWORD_JOB]
            assert wrong["health"] == "down" and "401" in wrong["lastError"], wrong
            assert list(prometheus.values(f'up{{job="{WRONG_PASSWORD_JOB}"}}').values()) == [0.0]
            assert not prometheus.values(f'{{job="{WRONG_PASSWORD_JOB}", __name__=~"marty_.+"}}')
            no_cert = found[NO_CLIENT_CERT_JOB]
            assert no_cert["health"] == "down", no_cert
            assert list(prometheus.values(f'up{{job="{NO_CLIENT_CERT_JOB}"}}').values()) == [0.0]
            print(f"{WRONG_PASSWORD_JOB}: {wrong['lastError']}\n{NO_CLIENT_CERT_JOB}: {no_cert['lastError']}")
        finally:
            prometheus.stop()
        assert service.alive(), service.log()[-3000:]


def test_basic_auth_guards_metrics_only(demo_binary, promtool, curl_binary, pki, tmp_path):
    """With a client certificate: no credentials or wrong ones get 401, a Basic challenge, no
    metrics, and the configured header; the right ones get the metrics; the health paths on
    the TLS port need no credentials."""
    web_config = secured_config(pki, promtool, tmp_path / "demo")
    ca, cert, key = pki.path("ca.crt"), pki.path("client.crt"), pki.path("client.key")
    with demo(demo_binary, tmp_path, web_config) as service:
        url = f"https://127.0.0.1:{service.metrics_port}/metrics"
        tls_args = ["--cacert", ca, "--cert", cert, "--key", key]

        code, status, headers, body, stderr = curl(curl_binary, url, *tls_args)
        assert code == 0, f"curl exit {code}: {stderr}"
        assert_unauthorized(status, headers, body, "curl without credentials")
        assert_header(headers, "the 401 (curl)")

        status, headers, body = https_get(service.metrics_port, "/metrics", ca, cert, key)
        assert_unauthorized(status, headers, body, "no credentials")
        assert_header(headers, "the 401")

        for user, password in ((USER, WRONG_PASSWORD), ("someone-else", PASSWORD), (USER, "")):
            status, headers, body = https_get(service.metrics_port, "/metrics", ca, cert, key,
                                              auth=(user, password))
            assert_unauthorized(status, headers, body, f"user {user!r} with password {password!r}")
            assert_header(headers, "a 401 of wrong credentials")
        code, status, headers, body, stderr = curl(curl_binary, url, *tls_args, "-u", f"{USER}:{WRONG_PASSWORD}")
        assert code == 0, stderr
        assert_unauthorized(status, headers, body, "curl with a wrong password")

        code, status, headers, body, stderr = curl(curl_binary, url, *tls_args, "-u", f"{USER}:{PASSWORD}")
        assert code == 0, f"curl exit {code}: {stderr}"
        assert status == 200 and b"\nmarty_" in body, (status, body[:300])
        assert_header(headers, "the 200 of /metrics (curl)")
        status, headers, body = https_get(service.metrics_port, "/metrics", ca, cert, key, auth=(USER, PASSWORD))
        assert status == 200 and b"marty_grpc_requests_total" in body, (status, body[:300])
        assert_header(headers, "the 200 of /metrics")

        for path in ("/health/live", "/health"):
            status, headers, body = https_get(service.metrics_port, path, ca, cert, key)
            assert status == 200, f"{path} on the TLS port without credentials: {status} {body[:300]!r}"
            assert b"csca-service" in body
            assert_header(headers, f"{path} on the TLS port")


def test_client_certificate_is_required_and_verified(demo_binary, promtool, curl_binary, pki, tmp_path):
    """RequireAndVerifyClientCert: the CA's client certificate gets an answer; none, or one of
    another CA, gets no HTTP answer at all (the handshake fails, or the first read does under
    TLS 1.3), with TLS 1.2 and 1.3 alike."""
    web_config = secured_config(pki, promtool, tmp_path / "demo")
    ca = pki.path("ca.crt")
    with demo(demo_binary, tmp_path, web_config) as service:
        port = service.metrics_port
        received, error = tls_attempt(port, ca, pki.path("client.crt"), pki.path("client.key"))
        assert error is None and received.startswith(b"HTTP/1.1 200"), (error, received[:300])

        cases = {"no client certificate": (None, None),
                 "a client certificate of another CA": (pki.path("rogue-client.crt"), pki.path("rogue-client.key"))}
        for what, (cert, key) in cases.items():
            for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
                received, error = tls_attempt(port, ca, cert, key, max_version=version)
                assert received == b"", f"{what} ({version.name}): the server answered {received[:300]!r}"
                # Refused, not left hanging: a TLS error, a reset, or a close without a byte.
                assert not isinstance(error, socket.timeout), f"{what} ({version.name}): no refusal in 5 s"
                print(f"{what}, {version.name}: {error!r}")
            url = f"https://127.0.0.1:{port}/metrics"
            args = ["--cacert", ca, "-u", f"{USER}:{PASSWORD}"] + (["--cert", cert, "--key", key] if cert else [])
            code, status, _, body, stderr = curl(curl_binary, url, *args)
            assert code not in (0, 28) and status is None and body == b"", \
                f"curl with {what}: exit {code}, {status}: {body[:300]!r} {stderr}"
            print(f"curl with {what}: exit {code}: {stderr.strip()}")

        # Still serving after the refusals.
        received, error = tls_attempt(port, ca, pki.path("client.crt"), pki.path("client.key"))
        assert error is None and received.startswith(b"HTTP/1.1 200"), (error, received[:300])
        assert service.alive()


def test_plain_http_on_the_tls_port_is_refused_and_the_health_port_stays_plain(demo_binary, promtool,
                                                                                pki, tmp_path):
    web_config = secured_config(pki, promtool, tmp_path / "demo")
    ca, cert, key = pki.path("ca.crt"), pki.path("client.crt"), pki.path("client.key")
    with demo(demo_binary, tmp_path, web_config) as service:
        port = service.metrics_port
        for path in ("/metrics", "/health/live"):
            request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                       f"Authorization: {basic(USER, PASSWORD)}\r\n\r\n").encode()
            received, closed = plain_http_exchange(port, request)
            assert not received.startswith(b"HTTP/1.1 200") and b"marty_" not in received, \
                f"plain HTTP {path} on the TLS port was answered: {received[:300]!r}"
            assert closed, f"plain HTTP {path}: connection left open after {received[:300]!r}"
            if received:
                # Go's answer (net/http) and nothing else.
                assert received.startswith(b"HTTP/1.0 400 Bad Request\r\n"), received[:300]
                assert PLAIN_HTTP_REFUSAL in received, received[:300]
            print(f"plain HTTP {path} on the TLS port: {received!r}, then closed")

        # The TLS side still works, and the health port speaks plain HTTP.
        status, _, body = https_get(port, "/metrics", ca, cert, key, auth=(USER, PASSWORD))
        assert status == 200 and b"marty_" in body
        for path in ("/health/live", "/health"):
            status, body = http_get(f"http://127.0.0.1:{service.health_port}{path}")
            assert status == 200 and b"csca-service" in body, (path, status, body[:300])


def replace_file(path, data):
    """Replaces a file the way most tools do: a new file renamed over the old one."""
    temporary = path.with_name(path.name + ".new")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def test_certificates_are_reloaded_when_their_files_change(demo_binary, promtool, pki, tmp_path):
    """A new connection gets the certificate now on disk: a new certificate for the same key
    (written in place), then a new key pair (EC this time, renamed over the files), then,
    after invalid replacements (a key that does not match, a certificate that does not parse)
    which leave the previous certificate serving, a last valid pair. No restart: same pid."""
    folder = copy_pki(pki, tmp_path / "live", "ca.crt", "server.crt", "server.key")
    web_config = write_web_config(folder / "web-config.yml", promtool)  # TLS only
    new = Pki(tmp_path / "new")
    copy_pki(pki, new.dir, "ca.crt", "ca.key", "server.key")
    same_key = new.leaf("same-key", "ca", "server", key=new.path("server.key"))
    ec_pair = (new.leaf("ec", "ca", "server", key_kind="ec"), new.path("ec.key"))
    last_pair = (new.leaf("last", "ca", "server"), new.path("last.key"))
    ca = folder / "ca.crt"
    cert_file, key_file = folder / "server.crt", folder / "server.key"

    with demo(demo_binary, tmp_path, web_config) as service:
        port, pid = service.metrics_port, service.pid
        latencies = []

        def expect(cert_path, what):
            wanted = file_fingerprint(cert_path)
            started = time.monotonic()
            try:
                wait_until(lambda: served_fingerprint(port, ca) == wanted, 15, interval=0.1,
                           what=f"the served certificate to become {what}")
            except AssertionError as error:
                raise AssertionError(f"{error}\nthe demo's output:\n{service.log()[-2000:]}") from None
            latencies.append(time.monotonic() - started)
            status, _, body = https_get(port, "/metrics", ca)
            assert status == 200 and b"marty_" in body
            print(f"{what}: served after {latencies[-1]:.2f} s")

        def keeps_serving(cert_path, what):
            """For a while longer than any reload took: every new connection succeeds and gets
            `cert_path`."""
            wanted = file_fingerprint(cert_path)
            deadline = time.monotonic() + min(10.0, max(3.0, 3 * max(latencies)))
            while time.monotonic() < deadline:
                assert served_fingerprint(port, ca) == wanted, f"{what}: another certificate served"
                time.sleep(0.2)
            status, _, body = https_get(port, "/metrics", ca)
            assert status == 200 and b"marty_" in body, f"{what}: {status}"

        expect(cert_file, "the first certificate")
        cert_file.write_bytes(same_key.read_bytes())  # in place, same key
        expect(same_key, "a new certificate for the same key")
        replace_file(key_file, ec_pair[1].read_bytes())  # a new key pair, renamed over
        replace_file(cert_file, ec_pair[0].read_bytes())
        expect(ec_pair[0], "a new (EC) key pair")

        replace_file(key_file, last_pair[1].read_bytes())  # an RSA key for the EC certificate
        keeps_serving(ec_pair[0], "a key that does not match the certificate")
        replace_file(key_file, ec_pair[1].read_bytes())
        replace_file(cert_file, b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
        keeps_serving(ec_pair[0], "a certificate file that does not parse")
        assert service.alive() and service.pid == pid

        replace_file(key_file, last_pair[1].read_bytes())
        replace_file(cert_file, last_pair[0].read_bytes())
        expect(last_pair[0], "a valid pair after the invalid ones")
        assert service.alive() and service.pid == pid, service.log()[-3000:]


def test_c_service_reads_the_web_config(c_service_binary, promtool, curl_binary, pki, tmp_path):
    """The C ABI's endpoint (marty_endpoint_start) takes MARTY_METRICS_WEB_CONFIG too: TLS and
    basic auth, no client certificate required (NoClientCert)."""
    web_config = secured_config(pki, promtool, tmp_path / "c", client_auth="NoClientCert")
    with marty_service("marty-c-service", [c_service_binary, "document-signer"], tmp_path, web_config) as service:
        url = f"https://127.0.0.1:{service.metrics_port}/metrics"
        code, status, headers, body, stderr = curl(curl_binary, url, "--cacert", pki.path("ca.crt"),
                                                   "-u", f"{USER}:{PASSWORD}")
        assert code == 0, f"curl exit {code}: {stderr}\n{service.log()[-2000:]}"
        assert status == 200 and b'marty_service_info{service="document-signer"' in body, (status, body[:300])
        assert_header(headers, "the C service's 200")
        code, status, headers, body, stderr = curl(curl_binary, url, "--cacert", pki.path("ca.crt"))
        assert code == 0, stderr
        assert_unauthorized(status, headers, body, "the C service without credentials")
        assert_header(headers, "the C service's 401")
        status, body = http_get(f"http://127.0.0.1:{service.health_port}/health/live")
        assert status == 200, (status, body)
        assert service.alive()
