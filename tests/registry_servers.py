"""Private registries for auth tests: Debian's docker-registry with htpasswd (basic) auth or
token auth, and the token server that token auth needs (docker-registry has none of its own).

The token server issues real JWTs (RS256, x5c certificate chain) that the registry verifies
against the certificate given in its config: the registry, not the test, decides access.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

USER, PASSWORD = "divepy", "s3cret-pw"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def outside_address() -> str | None:
    """This machine's address on its network (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route's source
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """GET /token?service=…&scope=repository:NAME:ACTIONS with basic auth -> {"token": JWT}."""

    def __init__(self, directory: str, service: str, issuer: str = "divepy-test-issuer"):
        self.service, self.issuer = service, issuer
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "divepy token test")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(hours=1))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.cert_path = os.path.join(directory, "token-cert.pem")
        with open(self.cert_path, "wb") as fh:
            fh.write(self.cert.public_bytes(serialization.Encoding.PEM))
        self.requests: list[dict] = []  # what clients asked for, for the tests to check
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):  # noqa: N802
                query = parse_qs(urlparse(self.path).query)
                auth = self.headers.get("Authorization", "")
                user = None
                if auth.startswith("Basic "):
                    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                    if (user, password) != (USER, PASSWORD):
                        self.send_response(401)
                        self.end_headers()
                        return
                server.requests.append({"service": query.get("service", [""])[0],
                                        "scope": query.get("scope", []), "user": user})
                if user is None:  # anonymous: no access at all
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": server.token(query.get("scope", []))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def token(self, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":", 2)
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT",
                  "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()]}
        claims = {"iss": self.issuer, "sub": USER, "aud": self.service, "exp": now + 600,
                  "nbf": now - 60, "iat": now, "jti": os.urandom(8).hex(), "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Registry:
    """A docker-registry process on a loopback port, its storage under `directory`."""

    def __init__(self, directory: str, auth_yaml: str = "", host: str = "127.0.0.1"):
        self.port = free_port(host)
        self.address = f"{host}:{self.port}"
        self.storage = os.path.join(directory, "storage")
        config = os.path.join(directory, "registry.yml")
        with open(config, "w") as fh:
            fh.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                     f"    rootdirectory: {self.storage}\nhttp:\n  addr: {self.address}\n"
                     f"  secret: divepy-test\n{auth_yaml}")
        self.log = open(os.path.join(directory, "registry.log"), "wb")
        self.process = subprocess.Popen(["docker-registry", "serve", config], stdout=self.log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2)
                break
            except urllib.error.HTTPError:  # 401: up, and asking for credentials
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    with open(os.path.join(directory, "registry.log")) as fh:
                        raise RuntimeError(f"docker-registry did not start: {fh.read()[-2000:]}") from None
                time.sleep(0.1)

    def blob_file(self, digest: str) -> str:
        hexpart = digest.split(":", 1)[1]
        return os.path.join(self.storage, "docker/registry/v2/blobs/sha256", hexpart[:2], hexpart, "data")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def htpasswd_registry(directory: str) -> Registry:
    import bcrypt

    path = os.path.join(directory, "htpasswd")
    with open(path, "w") as fh:
        fh.write(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()}\n")
    return Registry(directory, f"auth:\n  htpasswd:\n    realm: divepy-test\n    path: {path}\n")


def token_registry(directory: str) -> tuple[Registry, TokenServer]:
    service = "divepy-test-registry"
    server = TokenServer(directory, service)
    auth = (f"auth:\n  token:\n    realm: {server.realm}\n    service: {service}\n"
            f"    issuer: {server.issuer}\n    rootcertbundle: {server.cert_path}\n")
    try:
        return Registry(directory, auth), server
    except BaseException:
        server.close()
        raise


def docker_config(directory: str, host: str, user: str = USER, password: str = PASSWORD) -> str:
    """A DOCKER_CONFIG directory whose config.json has `auths` for host, as `docker login` writes."""
    os.makedirs(directory, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    with open(os.path.join(directory, "config.json"), "w") as fh:
        json.dump({"auths": {host: {"auth": auth}}}, fh)
    return directory
