"""Images straight from an OCI distribution registry: manifest, config and layer blobs over HTTP.

No daemon, no pull, nothing written to disk. `registry://HOST[:PORT]/REPO[:TAG|@DIGEST]`.
- Manifests: Docker v2 schema 2, OCI manifest, OCI index / Docker manifest list (the platform
  is chosen by the same code as for archives).
- Layers are streamed into the layer reader; every blob's sha256 is checked as it passes.
- Auth as the distribution spec and Docker do it: a 401 with `WWW-Authenticate: Bearer
  realm=…,service=…,scope=…` is answered with a token from the realm, `Basic` with the
  credentials of `~/.docker/config.json` (a credential helper named by `credHelpers` or
  `credsStore`, else `auths` with base64 `user:password`).
- https always, except plain http for loopback addresses or with `insecure=True`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import ipaddress
import json
import os
import re
import subprocess
from dataclasses import dataclass
from typing import Any, BinaryIO

import urllib3

from dive_py.errors import ArchiveError, SourceError, UsageError
from dive_py.model.image import Image
from dive_py.sources.archive import ImageParts, Progress, _Blobs, _expect, _pick_manifest
from dive_py.sources.assemble import image_from_parts
from dive_py.sources.layer_tar import read_layer
from dive_py.sources.verify import HashingReader

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
MANIFEST_LIMIT = 4 << 20
CONFIG_LIMIT = 64 << 20
TIMEOUT = 60
DOCKER_HUB = "registry-1.docker.io"
_REF = re.compile(r"^(?P<host>[^/]+)/(?P<repo>[a-z0-9]+(?:[._/-][a-z0-9]+)*)"
                  r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[a-z0-9]+:[a-fA-F0-9]{32,}))?$")


@dataclass(frozen=True)
class Reference:
    host: str  # host[:port] as the user wrote it
    repo: str
    tag: str
    digest: str

    @property
    def reference(self) -> str:
        return self.digest or self.tag

    def __str__(self) -> str:
        return f"{self.host}/{self.repo}" + (f"@{self.digest}" if self.digest else f":{self.tag}")


def parse_reference(ref: str) -> Reference:
    """`HOST[:PORT]/REPO[:TAG|@DIGEST]`; a bare `docker.io/NAME` means `library/NAME`."""
    match = _REF.match(ref)
    if not match:
        raise UsageError(f"not a registry reference: {ref!r} (expected HOST[:PORT]/REPO[:TAG|@DIGEST])")
    host, repo = match["host"], match["repo"]
    if host in ("docker.io", "index.docker.io"):
        host = DOCKER_HUB
        if "/" not in repo:
            repo = f"library/{repo}"
    return Reference(host, repo, match["tag"] or "latest", match["digest"] or "")


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def docker_credentials(host: str) -> tuple[str, str] | None:
    """user and password for `host` from $DOCKER_CONFIG/config.json (or ~/.docker/config.json)."""
    directory = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    path = os.path.join(directory, "config.json")
    try:
        with open(path, encoding="utf-8") as fh:
            config = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise SourceError(f"{path}: cannot read Docker's credentials ({exc})") from None
    if not isinstance(config, dict):
        return None
    helpers = config.get("credHelpers") if isinstance(config.get("credHelpers"), dict) else {}
    helper = helpers.get(host) or config.get("credsStore")
    if isinstance(helper, str) and helper:
        found = _from_helper(helper, "https://index.docker.io/v1/" if host == DOCKER_HUB else host)
        if found:
            return found
    auths = config.get("auths")
    if not isinstance(auths, dict):
        return None
    names = {host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"}
    if host == DOCKER_HUB:
        names |= {"https://index.docker.io/v1/", "docker.io", "index.docker.io"}
    for key, entry in auths.items():
        if key.rstrip("/") not in {n.rstrip("/") for n in names} or not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise SourceError(f"{path}: the auth entry for {key} is not base64 user:password") from None
            return user, password
        if entry.get("username") and entry.get("password"):
            return str(entry["username"]), str(entry["password"])
    return None


def _from_helper(helper: str, server: str) -> tuple[str, str] | None:
    """Ask a Docker credential helper (`docker-credential-NAME get`); None if it has nothing."""
    program = f"docker-credential-{helper}"
    try:
        proc = subprocess.run([program, "get"], input=server, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SourceError(f"credential helper {program} failed for {server} ({exc})") from None
    if proc.returncode != 0:
        return None  # "credentials not found in native keychain" and the like
    try:
        answer = json.loads(proc.stdout)
        user, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError):
        raise SourceError(f"credential helper {program} gave no Username/Secret for {server}") from None
    if user == "<token>":
        return None  # an identity token for an OAuth flow, which divepy does not speak
    return str(user), str(secret)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…"` -> ("bearer", {"realm": …, "service": …})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'(\w+)="?((?<=")[^"]*|[^",]*)"?', rest)}
    return scheme.lower(), params


class RegistryClient:
    """One repository on one registry, with the session's auth remembered."""

    def __init__(self, ref: Reference, insecure: bool = False):
        import requests

        self.ref = ref
        self.where = f"registry://{ref}"
        self._requests = requests
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "divepy"
        self._insecure = insecure or is_loopback(ref.host)
        self._base = ""
        self._auth_header: str | None = None
        self._credentials = docker_credentials(ref.host)

    # ---------------------------------------------------------------- transport
    def _url(self, path: str) -> str:
        if not self._base:
            self._base = self._probe()
        return f"{self._base}/v2/{self.ref.repo}/{path}"

    def _probe(self) -> str:
        """https, or http when allowed and https does not answer (as Docker does for loopback)."""
        schemes = ("https", "http") if self._insecure else ("https",)
        error: Exception | None = None
        for scheme in schemes:
            try:
                self.session.get(f"{scheme}://{self.ref.host}/v2/", timeout=TIMEOUT)
                return f"{scheme}://{self.ref.host}"
            except self._requests.exceptions.SSLError as exc:
                error = exc
            except self._requests.exceptions.ConnectionError as exc:
                error = exc
        hint = "" if self._insecure else " (plain http needs --insecure-registry)"
        raise SourceError(f"{self.where}: cannot reach {self.ref.host}: {_reason(error)}{hint}")

    def get(self, path: str, accept: str | None = None, stream: bool = False) -> Any:
        headers = {"Accept": accept} if accept else {}
        url = self._url(path)
        response = self._send(url, headers, stream)
        if response.status_code == 401 and self._authenticate(response):
            response.close()
            response = self._send(url, headers, stream)
        if response.status_code == 401:
            raise SourceError(f"{self.where}: unauthorized (log in with docker login {self.ref.host})")
        if response.status_code == 404:
            kind, _, name = path.partition("/")  # manifests/TAG or blobs/DIGEST
            raise SourceError(f"{self.where}: {kind.rstrip('s')} {name} not found")
        if response.status_code >= 400:
            raise SourceError(f"{self.where}: {path} answered HTTP {response.status_code} {_error_text(response)}")
        return response

    def _send(self, url: str, headers: dict[str, str], stream: bool) -> Any:
        if self._auth_header:
            headers = {**headers, "Authorization": self._auth_header}
        try:
            return self.session.get(url, headers=headers, stream=stream, timeout=TIMEOUT)
        except self._requests.exceptions.RequestException as exc:
            raise SourceError(f"{self.where}: {url}: {_reason(exc)}") from None

    def _authenticate(self, response: Any) -> bool:
        """Answer a 401's challenge; False when there is nothing (new) to answer it with."""
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        basic = None
        if self._credentials:
            basic = "Basic " + base64.b64encode(":".join(self._credentials).encode()).decode()
        if scheme == "basic":
            if basic is None or self._auth_header == basic:
                return False
            self._auth_header = basic
            return True
        if scheme != "bearer" or "realm" not in params:
            return False
        query = {"service": params["service"]} if "service" in params else {}
        query["scope"] = params.get("scope") or f"repository:{self.ref.repo}:pull"
        try:
            token_response = self.session.get(params["realm"], params=query, timeout=TIMEOUT,
                                              headers={"Authorization": basic} if basic else {})
        except self._requests.exceptions.RequestException as exc:
            raise SourceError(f"{self.where}: token server {params['realm']}: {_reason(exc)}") from None
        if token_response.status_code in (401, 403):
            raise SourceError(f"{self.where}: token server {params['realm']} refused "
                              f"{'the credentials' if basic else 'anonymous access'} "
                              f"(HTTP {token_response.status_code})")
        try:
            body = token_response.json()
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if token_response.status_code != 200 or not isinstance(token, str) or not token:
            raise SourceError(f"{self.where}: token server {params['realm']} gave no token "
                              f"(HTTP {token_response.status_code})")
        if self._auth_header == f"Bearer {token}":
            return False
        self._auth_header = f"Bearer {token}"
        return True

    # ---------------------------------------------------------------- documents and blobs
    def _small(self, path: str, digest: str, limit: int, accept: str | None = None) -> tuple[bytes, Any]:
        response = self.get(path, accept, stream=True)
        with response:
            data = response.raw.read(limit + 1, decode_content=True)
        if len(data) > limit:
            raise ArchiveError(f"{self.where}: {path} is larger than {limit >> 20} MiB")
        if digest:
            verify(digest, data, f"{self.where}: {path}")
        return data, response

    def manifest(self, reference: str) -> dict[str, Any]:
        digest = reference if ":" in reference else ""
        data, response = self._small(f"manifests/{reference}", digest, MANIFEST_LIMIT, ", ".join(MANIFEST_TYPES))
        claimed = response.headers.get("Docker-Content-Digest", "")
        if not digest and claimed.startswith("sha256:"):  # by tag: hold the registry to its word
            verify(claimed, data, f"{self.where}: manifests/{reference}")
        doc = _expect(_json(data, f"{self.where}: manifest {reference}"), dict, self.where, "manifest")
        if doc.get("schemaVersion") == 1:
            raise ArchiveError(f"{self.where}: manifest {reference} is Docker schema 1, which divepy does not read")
        media = doc.get("mediaType") or response.headers.get("Content-Type", "")
        if "manifests" not in doc and "layers" not in doc:
            raise ArchiveError(f"{self.where}: manifest {reference} has neither layers nor manifests ({media})")
        return doc

    def config(self, digest: str) -> dict[str, Any]:
        data, _ = self._small(f"blobs/{digest}", digest, CONFIG_LIMIT)
        return _expect(_json(data, f"{self.where}: config {digest}"), dict, self.where, "image config")

    def layer(self, digest: str, progress: Progress | None):
        """Stream one layer blob through the layer reader, checking its digest at the end."""
        response = self.get(f"blobs/{digest}", stream=True)
        with response:
            hashing = HashingReader(response.raw)
            stream: BinaryIO = io.BufferedReader(hashing, 1 << 20)  # type: ignore[assignment]
            report = (lambda n: progress(digest, n)) if progress is not None else None
            where = f"{self.where}: layer {digest}"
            try:
                data = read_layer(stream, where, report)
                while stream.read(1 << 20):  # the rest (tar padding, a trailer) counts for the digest
                    pass
            except (self._requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
                raise SourceError(f"{where}: transfer failed ({_reason(exc)})") from None
            except ArchiveError:
                hashing.drain()
                check_digest(digest, hashing.hash.hexdigest(), where)
                raise
        check_digest(digest, hashing.hash.hexdigest(), where)
        return data


class _ManifestBlobs(_Blobs):
    """What archive._pick_manifest walks: manifests fetched by digest instead of files."""

    def __init__(self, client: RegistryClient):
        self.client = client

    def json(self, path: str) -> Any:
        _, alg, hexpart = path.split("/", 2)
        return self.client.manifest(f"{alg}:{hexpart}")

    def digests(self, path: str) -> None:
        """None: the client verified each manifest against its digest as it fetched it."""
        return None


def verify(digest: str, data: bytes, where: str) -> None:
    alg, _, _ = digest.partition(":")
    if alg != "sha256":
        raise ArchiveError(f"{where}: digest algorithm {alg!r} is not supported (only sha256)")
    check_digest(digest, hashlib.sha256(data).hexdigest(), where)


def check_digest(digest: str, actual_hex: str, where: str) -> None:
    if digest != f"sha256:{actual_hex}":
        raise ArchiveError(f"{where}: digest mismatch (content is sha256:{actual_hex[:12]}…)")


def _json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"{where}: not valid JSON ({exc})") from None


def _reason(exc: BaseException | None) -> str:
    text = str(exc) if exc is not None else "no answer"
    for marker in ("CERTIFICATE_VERIFY_FAILED", "WRONG_VERSION_NUMBER", "Connection refused",
                   "Name or service not known", "timed out"):
        if marker in text:
            return {"WRONG_VERSION_NUMBER": "it does not speak TLS"}.get(marker, marker.lower())
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _error_text(response: Any) -> str:
    try:
        errors = response.json().get("errors") or []
        return "(" + "; ".join(str(e.get("message") or e.get("code")) for e in errors) + ")"
    except (ValueError, AttributeError):
        return ""


def _layer_digests(manifest: dict[str, Any], where: str) -> list[str]:
    layers = _expect(manifest.get("layers"), list, where, "manifest layers")
    digests = []
    for desc in layers:
        digest = _expect(desc, dict, where, "layer descriptor").get("digest")
        if not isinstance(digest, str) or ":" not in digest:
            raise ArchiveError(f"{where}: layer descriptor without a valid digest")
        digests.append(digest)
    return digests


def load(ref: str, platform: str | None = None, progress: Progress | None = None,
         insecure: bool = False) -> Image:
    parsed = parse_reference(ref)
    client = RegistryClient(parsed, insecure)
    where = client.where
    manifest = client.manifest(parsed.reference)
    if "manifests" in manifest:
        manifest = _pick_manifest(_ManifestBlobs(client), manifest, where, platform)
    config_desc = _expect(manifest.get("config"), dict, where, "manifest config")
    if not isinstance(config_desc.get("digest"), str):
        raise ArchiveError(f"{where}: manifest config without a digest")
    config = client.config(config_desc["digest"])
    digests = _layer_digests(manifest, where)
    layers = [client.layer(digest, progress) for digest in digests]
    paths = [f"blobs/{d.replace(':', '/', 1)}" for d in digests]
    parts = ImageParts(config, paths, layers, [str(parsed)])
    return image_from_parts(parts, str(parsed), "registry")
