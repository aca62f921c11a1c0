"""Whether a model can be used right now, said before anyone clicks: here already, downloadable (and
how big), or unavailable offline — so an app never offers a model as if it were ready.

    reach = Reachability()                        # one per app; probes at most every `ttl` seconds
    zoo_availability("horse2zebra", reach.why_not())
    # Availability(ready=False, usable=True, note="downloads ≈90 MB on first use")

A zoo model is ready when its folder is in the store (`weights/<name>`) or in the Hub cache
(`CYCLEGAN_HUB_REPO`); otherwise it is usable only if its sources (that Hub repo, the upstream
server) answer a short probe. A built-in packaged model is ready when its package is installed.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import huggingface_hub
from huggingface_hub import constants as hf_constants

from cyclegan_core.model.folder import WEIGHTS_NAME, is_model_folder
from cyclegan_core.paths import weights_dir
from cyclegan_core.sources.download import probe
from cyclegan_core.sources.hub import hub_endpoint, parse_hub_source
from cyclegan_core.sources.packaged import PACKAGED, is_available
from cyclegan_core.sources.resolve import upstream_url
from cyclegan_core.sources.zoo import ZOO

PROBE_SECONDS = 2.0


@dataclass(frozen=True)
class Availability:
    """`ready`: usable without a download; `usable`: ready or downloadable now; `note`: a few words."""

    ready: bool
    usable: bool
    note: str


def zoo_sources() -> list[str]:
    """The addresses a zoo model's weights would be fetched from, in order (Hub repo, then upstream)."""
    urls = []
    if parse_hub_source(os.environ.get("CYCLEGAN_HUB_REPO", "")) is not None:
        urls.append(hub_endpoint())
    urls.append(upstream_url())
    return urls


class Reachability:
    """Remembers for `ttl` seconds whether any zoo source answers (the probes run at most once per
    period, however many visitors ask)."""

    def __init__(self, ttl: float = 300.0, timeout: float = PROBE_SECONDS):
        self.ttl, self.timeout = ttl, timeout
        self._lock = threading.Lock()
        self._checked_at = -float("inf")
        self._reason: str | None = None

    def why_not(self) -> str | None:
        """None if a zoo source answers, else why none does."""
        with self._lock:
            if time.monotonic() - self._checked_at > self.ttl:
                self._reason = self._probe()
                self._checked_at = time.monotonic()
            return self._reason

    def _probe(self) -> str | None:
        reasons = []
        for url in zoo_sources():
            if url == hub_endpoint() and hf_constants.HF_HUB_OFFLINE:
                reasons.append("HF_HUB_OFFLINE is set")
                continue
            reason = probe(url, self.timeout)
            if reason is None:
                return None
            reasons.append(reason)
        return "; ".join(reasons) or "no source configured"


def in_hub_cache(name: str) -> bool:
    repo = parse_hub_source(os.environ.get("CYCLEGAN_HUB_REPO", ""))
    if repo is None:
        return False
    found = huggingface_hub.try_to_load_from_cache(repo.repo_id, f"{name}/{WEIGHTS_NAME}", revision=repo.revision)
    return isinstance(found, str)


def zoo_availability(name: str, offline_reason: str | None) -> Availability:
    """`offline_reason`: `Reachability.why_not()` (None: the sources answer)."""
    entry = ZOO[name]
    if is_model_folder(weights_dir() / name) or in_hub_cache(name):
        return Availability(True, True, "ready")
    if offline_reason is None:
        return Availability(False, True, f"downloads ≈{entry.download_mb} MB on first use")
    return Availability(False, False, "unavailable offline: its weights are not on this server")


def packaged_availability(name: str) -> Availability:
    if is_available(name):
        return Availability(True, True, "built in, works offline")
    return Availability(False, False, f"unavailable: the {PACKAGED[name].distribution} package is not installed")
