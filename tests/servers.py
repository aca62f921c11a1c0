"""Loopback HTTP servers standing in for the Hugging Face Hub and the upstream weights server."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


class _Server:
    """A threaded HTTP server on 127.0.0.1 that records (method, path) of every request."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self):
                owner.requests.append(("HEAD", self.path))
                owner.respond(self, head=True)

            def do_GET(self):
                owner.requests.append(("GET", self.path))
                owner.respond(self, head=False)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def gets(self) -> list[str]:
        return [path for method, path in self.requests if method == "GET"]

    @staticmethod
    def send(handler, status: int, body: bytes, headers: dict[str, str], head: bool):
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not head:
            handler.wfile.write(body)


class FakeHub(_Server):
    """Answers `/{owner}/{name}/resolve/{revision}/{path}` like the Hub does for plain (non-LFS) files."""

    COMMIT = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self, repos: dict[str, dict[str, bytes]]):
        super().__init__()
        self.repos = repos  # repo_id → {path in repo → bytes}

    def respond(self, handler, head: bool):
        parts = unquote(handler.path.split("?")[0]).lstrip("/").split("/")
        if len(parts) >= 5 and parts[2] == "resolve":
            repo_id, revision, path = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
            if repo_id not in self.repos:
                return self.send(handler, 404, b"", {"X-Error-Code": "RepoNotFound"}, head)
            if revision not in ("main", self.COMMIT):
                return self.send(handler, 404, b"", {"X-Error-Code": "RevisionNotFound"}, head)
            body = self.repos[repo_id].get(path)
            if body is None:
                return self.send(handler, 404, b"", {"X-Error-Code": "EntryNotFound"}, head)
            etag = '"' + hashlib.sha1(body).hexdigest() + '"'
            return self.send(handler, 200, body, {"X-Repo-Commit": self.COMMIT, "ETag": etag}, head)
        self.send(handler, 404, b"", {}, head)


class FakeUpstream(_Server):
    """Serves `/{name}.pth` files like the reference project's pretrained-models folder."""

    def __init__(self, files: dict[str, bytes], truncate: bool = False):
        super().__init__()
        self.files = files
        self.truncate = truncate  # announce the full length, send half: a cut-off download

    def respond(self, handler, head: bool):
        body = self.files.get(unquote(handler.path.split("?")[0]).lstrip("/"))
        if body is None:
            return self.send(handler, 404, b"not found", {}, head)
        if not self.truncate or head:
            return self.send(handler, 200, body, {"Content-Type": "application/octet-stream"}, head)
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[: len(body) // 2])
