"""A real HTTP peer on a unix socket that speaks just enough of the Docker API to misbehave.

For the engine failures a healthy daemon will not produce on demand: an API too old, an
image that is gone by the time it is exported, a daemon that dies in the middle of a save.
The Docker SDK talks to it over a real socket, exactly as it talks to dockerd.
"""

from __future__ import annotations

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler

IMAGE_ID = "sha256:" + "ab" * 32


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def address_string(self) -> str:  # unix sockets have no client address
        return "unix"

    def log_message(self, *args) -> None:
        pass

    def _json(self, status: int, body: object, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        peer = self.server
        path = self.path.split("?")[0]
        if path.endswith("/_ping"):
            body = b"OK"
            self.send_response(200)
            self.send_header("Api-Version", peer.api_version)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path.endswith("/version"):
            self._json(200, {"ApiVersion": peer.api_version, "MinAPIVersion": peer.api_version,
                             "Version": "0.0.0-peer", "Os": "linux", "Arch": "amd64"})
        elif path.endswith("/json") and "/images/" in path:
            self._json(200, {"Id": IMAGE_ID, "RepoTags": ["peer/image:latest"], "Config": {}})
        elif path.endswith("/get") and "/images/" in path:
            self._save()
        else:
            self._json(404, {"message": f"page not found: {path}"})

    def _save(self) -> None:
        peer = self.server
        if peer.save == "removed":
            self._json(404, {"message": "No such image: peer/image:latest"})
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-tar")
        if peer.save == "dies-chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            part = peer.archive[: len(peer.archive) // 2]
            self.wfile.write(f"{len(part) + 1000:x}\r\n".encode() + part)  # promises more than it sends
        else:  # "dies-plain": no length, the connection just ends early
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(peer.archive[: len(peer.archive) // 2])
        self.wfile.flush()
        self.close_connection = True


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    api_version = "1.44"
    save = "dies-chunked"
    archive = b""


class EnginePeer:
    """`with EnginePeer(path, api_version=..., save=...) as url:` serves until the block ends."""

    def __init__(self, socket_path: str, api_version: str = "1.44", save: str = "dies-chunked",
                 archive: bytes = b""):
        self.server = _Server(socket_path, _Handler)
        self.server.api_version = api_version
        self.server.save = save
        self.server.archive = archive
        self.url = f"unix://{socket_path}"

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.url

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
