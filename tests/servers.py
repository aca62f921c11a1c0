"""Loopback HTTP servers standing in for the Hugging Face Hub and the upstream weights server."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import yaml


class _Server:
    """A threaded HTTP server on 127.0.0.1 that records (method, path) of every request, and the
    Authorization header each one carried (`authorizations`, in the same order)."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []
        self.authorizations: list[str | None] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self):
                owner.record("HEAD", self)
                owner.respond(self, head=True)

            def do_GET(self):
                owner.record("GET", self)
                owner.respond(self, head=False)

            def do_POST(self):
                owner.record("POST", self)
                length = int(self.headers.get("Content-Length") or 0)
                owner.receive(self, self.rfile.read(length))

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

    def record(self, method: str, handler) -> None:
        self.requests.append((method, handler.path))
        self.authorizations.append(handler.headers.get("Authorization"))

    def gets(self) -> list[str]:
        return [path for method, path in self.requests if method == "GET"]

    def posts(self) -> list[str]:
        return [path for method, path in self.requests if method == "POST"]

    def receive(self, handler, body: bytes):
        self.send(handler, 405, b"", {}, head=False)

    @staticmethod
    def send(handler, status: int, body: bytes, headers: dict[str, str], head: bool):
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not head:
            handler.wfile.write(body)

    @classmethod
    def send_json(cls, handler, status: int, data, headers: dict[str, str] | None = None, head: bool = False):
        cls.send(handler, status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})},
                 head)


class FakeHub(_Server):
    """Answers `/{owner}/{name}/resolve/{revision}/{path}` like the Hub does for plain (non-LFS) files,
    and takes uploads the way `huggingface_hub.HfApi` makes them (every file "regular", no LFS/xet):

        POST /api/repos/create                            create a repo (409 if it exists)
        POST /api/models/{repo}/branch/{branch}           create a branch from main (409 if it exists)
        POST /api/validate-yaml                           check a README's metadata (YAML)
        POST /api/models/{repo}/preupload/{revision}      every file: uploadMode "regular"
        POST /api/models/{repo}/commit/{revision}         NDJSON: header, then file / deletedFile lines
        GET  /api/models/{repo}[/revision/{revision}]     repo info (sha, private, files)

    `repos` holds each repo's main branch, `branches` its other branches; `created` the body of every
    create request by repo; `commits` every commit as (repo, revision, summary, paths). With
    `required_token` set, API calls without `Authorization: Bearer <it>` get 401. With `commit_error`
    set (an HTTP status), commits fail with it and a message that echoes the Authorization header, as
    a careless server might."""

    COMMIT = "0123456789abcdef0123456789abcdef01234567"
    INVALID_CREDENTIALS = "Invalid credentials in Authorization header"

    def __init__(self, repos: dict[str, dict[str, bytes]], required_token: str | None = None):
        super().__init__()
        self.repos = repos  # repo_id → {path in repo → bytes}: the main branch
        self.branches: dict[str, dict[str, dict[str, bytes]]] = {}  # repo_id → {branch → {path → bytes}}
        self.heads: dict[tuple[str, str], str] = {}  # (repo_id, branch) → commit; main defaults to COMMIT
        self.created: dict[str, dict] = {}
        self.commits: list[tuple[str, str, str, list[str]]] = []
        self.required_token = required_token
        self.commit_error: int | None = None
        self.lock = threading.Lock()

    # --- reading ---

    def branch_files(self, repo_id: str) -> dict[str, dict[str, bytes]]:
        return {"main": self.repos[repo_id], **self.branches.get(repo_id, {})}

    def head(self, repo_id: str, branch: str) -> str:
        """The latest commit of a branch (COMMIT for a repo given to the constructor, until a commit)."""
        return self.heads.get((repo_id, branch), self.COMMIT)

    def files(self, repo_id: str, revision: str) -> dict[str, bytes] | None:
        """The files of `repo_id` at a branch or at a branch's latest commit; None if there is no such revision."""
        branches = self.branch_files(repo_id)
        if revision in branches:
            return branches[revision]
        return next((files for branch, files in branches.items() if revision == self.head(repo_id, branch)), None)

    def commit_of(self, repo_id: str, revision: str) -> str:
        return self.head(repo_id, revision) if revision in self.branch_files(repo_id) else revision

    def respond(self, handler, head: bool):
        parts = unquote(handler.path.split("?")[0]).lstrip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            return self.repo_info(handler, parts, head)
        kind = []
        if parts[0] == "datasets":  # a dataset repo: keyed "datasets/owner/name" in `repos`
            kind, parts = ["datasets"], parts[1:]
        if len(parts) >= 5 and parts[2] == "resolve":
            repo_id, revision, path = "/".join(kind + parts[:2]), parts[3], "/".join(parts[4:])
            if repo_id not in self.repos:
                return self.send(handler, 404, b"", {"X-Error-Code": "RepoNotFound"}, head)
            files = self.files(repo_id, revision)
            if files is None:
                return self.send(handler, 404, b"", {"X-Error-Code": "RevisionNotFound"}, head)
            body = files.get(path)
            if body is None:
                return self.send(handler, 404, b"", {"X-Error-Code": "EntryNotFound"}, head)
            etag = '"' + hashlib.sha1(body).hexdigest() + '"'
            headers = {"X-Repo-Commit": self.commit_of(repo_id, revision), "ETag": etag}
            return self.send(handler, 200, body, headers, head)
        self.send(handler, 404, b"", {}, head)

    def repo_info(self, handler, parts: list[str], head: bool):
        if not self.authorised(handler):
            return self.refuse(handler, head)
        repo_id = "/".join(parts[2:4])
        revision = parts[5] if len(parts) >= 6 and parts[4] == "revision" else "main"
        if repo_id not in self.repos:
            return self.send(handler, 404, b"", {"X-Error-Code": "RepoNotFound"}, head)
        files = self.files(repo_id, revision)
        if files is None:
            return self.send(handler, 404, b"", {"X-Error-Code": "RevisionNotFound"}, head)
        self.send_json(handler, 200, {"id": repo_id, "modelId": repo_id, "sha": self.commit_of(repo_id, revision),
                                      "private": self.is_private(repo_id),
                                      "siblings": [{"rfilename": p} for p in sorted(files)]}, head=head)

    # --- writing ---

    def is_private(self, repo_id: str) -> bool:
        return self.created.get(repo_id, {}).get("visibility") == "private"

    def authorised(self, handler) -> bool:
        return self.required_token is None or handler.headers.get("Authorization") == f"Bearer {self.required_token}"

    def refuse(self, handler, head: bool = False):
        self.send_json(handler, 401, {"error": self.INVALID_CREDENTIALS},
                       {"X-Error-Message": self.INVALID_CREDENTIALS}, head)

    def receive(self, handler, body: bytes):
        parts = unquote(handler.path.split("?")[0]).lstrip("/").split("/")
        if not self.authorised(handler):
            return self.refuse(handler)
        with self.lock:
            if parts == ["api", "repos", "create"]:
                return self.create_repo(handler, json.loads(body))
            if parts == ["api", "validate-yaml"]:
                return self.validate_yaml(handler, json.loads(body))
            if parts[:2] == ["api", "models"] and len(parts) >= 6:
                repo_id, action, revision = "/".join(parts[2:4]), parts[4], "/".join(parts[5:])
                if repo_id not in self.repos:
                    return self.send_json(handler, 404, {"error": "Repository not found"},
                                          {"X-Error-Code": "RepoNotFound"})
                if action == "branch":
                    return self.create_branch(handler, repo_id, revision)
                files = self.branch_files(repo_id).get(revision)  # uploads go to a branch
                if files is None:
                    return self.send_json(handler, 404, {"error": f"Invalid rev id: {revision}"},
                                          {"X-Error-Code": "RevisionNotFound"})
                if action == "preupload":
                    paths = [f["path"] for f in json.loads(body)["files"]]
                    return self.send_json(handler, 200, {"files": [
                        {"path": p, "uploadMode": "regular", "shouldIgnore": False, "oid": None} for p in paths]})
                if action == "commit" and self.commit_error is not None:
                    return self.send_json(handler, self.commit_error, {
                        "error": f"commit rejected (request had {handler.headers.get('Authorization')})"})
                if action == "commit":
                    return self.commit(handler, repo_id, revision, files, body)
        self.send(handler, 404, b"", {}, head=False)

    def create_repo(self, handler, payload: dict):
        repo_id = f"{payload['organization']}/{payload['name']}"
        if repo_id in self.repos:
            return self.send_json(handler, 409, {"error": "You already created this model repo",
                                                 "url": f"{self.url}/{repo_id}"})
        self.repos[repo_id] = {}
        self.created[repo_id] = payload
        self.send_json(handler, 200, {"url": f"{self.url}/{repo_id}", "name": repo_id})

    def create_branch(self, handler, repo_id: str, branch: str):
        branches = self.branches.setdefault(repo_id, {})
        if branch == "main" or branch in branches:
            return self.send_json(handler, 409, {"error": f"Reference refs/heads/{branch} already exists"})
        branches[branch] = dict(self.repos[repo_id])
        self.heads[(repo_id, branch)] = self.head(repo_id, "main")
        self.send_json(handler, 200, {})

    def validate_yaml(self, handler, payload: dict):
        content = payload["content"]
        if content.startswith("---\n"):
            try:
                metadata = yaml.safe_load(content[4:].split("\n---", 1)[0])
            except yaml.YAMLError as e:
                return self.send_json(handler, 400, {"errors": [{"message": str(e)}], "warnings": []})
            if not isinstance(metadata, dict):
                return self.send_json(handler, 400, {"errors": [{"message": "metadata must be a mapping"}],
                                                     "warnings": []})
        self.send_json(handler, 200, {"errors": [], "warnings": []})

    def commit(self, handler, repo_id: str, revision: str, files: dict[str, bytes], body: bytes):
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header, operations = lines[0], lines[1:]
        if header["key"] != "header":
            return self.send_json(handler, 400, {"error": "the first line must be the header"})
        changed = {}
        removed = set()
        for op in operations:
            key, value = op["key"], op["value"]
            if key == "file" and value.get("encoding") == "base64":
                changed[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                removed.add(value["path"])
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                removed.update(p for p in files if p.startswith(prefix))
            else:
                return self.send_json(handler, 400, {"error": f"this fake Hub takes regular files only, not {key}"})
        for path in removed:
            files.pop(path, None)
        files.update(changed)
        sha = hashlib.sha1(f"{repo_id}@{revision}#{len(self.commits)}".encode()).hexdigest()
        self.heads[(repo_id, revision)] = sha
        self.commits.append((repo_id, revision, header["value"]["summary"], sorted(changed)))
        self.send_json(handler, 200, {"commitUrl": f"{self.url}/{repo_id}/commit/{sha}", "commitOid": sha,
                                      "pullRequestUrl": None})


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
