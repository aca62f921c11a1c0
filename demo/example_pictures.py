"""Example pictures for each task's input domain, each with its licence recorded beside it.

The shipped pictures are listed in `demo/examples/examples.json` (file, domains, title, author,
source, licence). A Space may add more from a Hub dataset in the same layout (`examples.json` plus
the pictures), named by `CYCLEGAN_EXAMPLES_REPO` (`owner/name[@revision]`): fetched once through
`huggingface_hub` into its cache, used from the cache when offline, and left out (the shipped ones
remain) when neither works. Hub pictures are checked like any upload: size-capped, opened, plain
names only.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub
from huggingface_hub import constants as hf_constants
from PIL import Image

from cyclegan_core.sources.download import probe
from cyclegan_core.sources.hub import hub_endpoint, parse_hub_source

log = logging.getLogger("cyclegan_studio")

SHIPPED = Path(__file__).parent / "examples"
MANIFEST = "examples.json"
MAX_HUB_PICTURES = 64
MAX_HUB_BYTES = 8 * 2**20  # per picture
RETRY_SECONDS = 600.0


@dataclass(frozen=True)
class ExamplePicture:
    path: Path
    domains: tuple[str, ...]
    title: str
    author: str
    source: str
    license: str
    license_url: str = ""

    @property
    def caption(self) -> str:
        return f"{self.title} — {self.author} ({self.license})"


def read_manifest(folder: Path, files: dict[str, Path] | None = None) -> list[ExamplePicture]:
    """The pictures `folder/examples.json` lists (`files`: where each listed file is, if not in `folder`).
    Entries without a licence or a readable file are left out, with a log line."""
    data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    pictures = []
    for item in data if isinstance(data, list) else []:
        try:
            name = str(item["file"])
            path = (files or {}).get(name) or folder / name
            picture = ExamplePicture(path, tuple(str(d) for d in item["domains"]), str(item["title"]),
                                     str(item["author"]), str(item["source"]), str(item["license"]),
                                     str(item.get("license_url", "")))
        except (KeyError, TypeError):
            log.warning("examples: a malformed entry in %s is left out: %r", folder / MANIFEST, item)
            continue
        if "/" in name or "\\" in name or name.startswith(".") or not picture.license or not path.is_file():
            log.warning("examples: %s is left out (no licence, an unsafe name or no file)", name)
            continue
        pictures.append(picture)
    return pictures


class ExamplePictures:
    """The shipped pictures, plus those of `CYCLEGAN_EXAMPLES_REPO` once they could be fetched."""

    def __init__(self, folder: Path = SHIPPED, hub_repo: str | None = None):
        self.shipped = read_manifest(folder) if (folder / MANIFEST).is_file() else []
        self.hub_repo = hub_repo if hub_repo is not None else os.environ.get("CYCLEGAN_EXAMPLES_REPO", "")
        self._hub: list[ExamplePicture] | None = None
        self._tried_at = -float("inf")
        self._lock = threading.Lock()

    def pictures(self) -> list[ExamplePicture]:
        return [*self.hub_pictures(), *self.shipped]

    def for_domain(self, domain: str) -> list[ExamplePicture]:
        """Pictures of `domain` (compared without case), Hub ones first."""
        wanted = domain.strip().lower()
        return [p for p in self.pictures() if wanted in (d.lower() for d in p.domains)]

    def hub_pictures(self) -> list[ExamplePicture]:
        if not self.hub_repo:
            return []
        with self._lock:
            if self._hub is None and time.monotonic() - self._tried_at > RETRY_SECONDS:
                self._tried_at = time.monotonic()
                try:
                    self._hub = self._fetch()
                except Exception as e:  # offline, missing, malformed: the shipped pictures remain
                    log.warning("examples: the Hub dataset %s is not used (%s)", self.hub_repo, e)
            return self._hub or []

    def _fetch(self) -> list[ExamplePicture]:
        source = parse_hub_source(self.hub_repo)
        if source is None or source.subfolder:
            raise ValueError("CYCLEGAN_EXAMPLES_REPO must be owner/name[@revision]")
        endpoint = hub_endpoint()
        offline = hf_constants.HF_HUB_OFFLINE or probe(endpoint) is not None

        def fetch(filename: str) -> Path:
            return Path(huggingface_hub.hf_hub_download(
                source.repo_id, filename, repo_type="dataset", revision=source.revision, endpoint=endpoint,
                local_files_only=offline, library_name="cyclegan-studio"))

        manifest = fetch(MANIFEST)
        entries = json.loads(manifest.read_text(encoding="utf-8"))[:MAX_HUB_PICTURES]
        files = {}
        for item in entries:
            name = str(item.get("file", "")) if isinstance(item, dict) else ""
            if not name or "/" in name or "\\" in name or name.startswith("."):
                continue
            if not offline:
                url = huggingface_hub.hf_hub_url(source.repo_id, name, repo_type="dataset",
                                                 revision=source.revision, endpoint=endpoint)
                size = huggingface_hub.get_hf_file_metadata(url, endpoint=endpoint).size
                if size is None or size > MAX_HUB_BYTES:
                    log.warning("examples: %s is left out (%s bytes)", name, size)
                    continue
            path = fetch(name)
            try:
                with Image.open(path) as image:
                    image.verify()
            except Exception:
                log.warning("examples: %s from the Hub is not a readable picture; left out", name)
                continue
            files[name] = path
        return [p for p in read_manifest(manifest.parent, files) if p.path in files.values()]
