"""Model sources a visitor of a public app may name: a zoo name, a built-in packaged model, a model in
the store by its name, or a Hub repo id — never a path on the server (the CLI and Python API keep taking paths: `sources.load`).

A refusal reads the same whatever the text is, so it tells nothing about the server's files. Hub
models are loaded only up to `CYCLEGAN_HUB_MAX_BYTES` (checked from the Hub's file metadata before
downloading) and, if `CYCLEGAN_HUB_ALLOW` lists owners, only from them.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cyclegan_core.errors import SourceRefused
from cyclegan_core.model.config import ModelConfig
from cyclegan_core.model.cyclegan import CycleGAN
from cyclegan_core.model.folder import is_model_folder, load_model, read_config
from cyclegan_core.paths import weights_dir
from cyclegan_core.sources.hub import HubSource, download_model_folder, parse_hub_source
from cyclegan_core.sources.packaged import PACKAGED, packaged_folder, packaged_home
from cyclegan_core.sources.resolve import default_device, load_zoo
from cyclegan_core.sources.zoo import ZOO
from cyclegan_core.training.store import ModelStore, StoredModel

DEFAULT_HUB_MAX_BYTES = 500 * 2**20  # the official 9-block pair is ≈90 MB
REFUSAL = ("{text} is not a model this app offers: choose a listed task, a zoo name ({zoo}), one of the "
           "models listed here by its name, or a Hub repo id (owner/name[/subfolder][@revision])")


def hub_max_bytes() -> int:
    value = os.environ.get("CYCLEGAN_HUB_MAX_BYTES")
    return int(value) if value else DEFAULT_HUB_MAX_BYTES


def hub_allowed_owners() -> frozenset[str] | None:
    """`CYCLEGAN_HUB_ALLOW` (comma-separated owners), or None: any owner."""
    value = os.environ.get("CYCLEGAN_HUB_ALLOW", "").strip()
    return frozenset(o.strip() for o in value.split(",") if o.strip()) if value else None


@dataclass(frozen=True)
class PublicSource:
    """A source a visitor may use: `kind` "zoo", "packaged", "store" or "hub"; `text` as the visitor wrote it."""

    kind: str
    text: str
    stored: StoredModel | None = None
    hub: HubSource | None = None

    def load(self, device: str = "cpu") -> CycleGAN:
        if self.kind == "zoo":
            return load_zoo(self.text, device)
        if self.kind == "packaged":
            return load_model(packaged_folder(self.text), device)
        if self.kind == "store":
            return load_model(self.stored.path, device)
        return load_model(download_model_folder(self.hub, max_bytes=hub_max_bytes()), device)

    def config(self) -> ModelConfig:
        """The source's architecture, without loading its weights (the official zoo: the paper's, or
        the converted folder's where it is here)."""
        if self.kind == "zoo":
            entry, local = ZOO[self.text], weights_dir() / self.text
            if is_model_folder(local):
                return read_config(local)
            return ModelConfig(domain_a=entry.domain_a, domain_b=entry.domain_b, image_size=entry.image_size,
                               one_way=entry.one_way)
        if self.kind == "packaged":
            return read_config(packaged_folder(self.text))
        if self.kind == "store":
            return self.stored.config
        return read_config(download_model_folder(self.hub, max_bytes=hub_max_bytes()))

    def home(self, store: ModelStore | None = None) -> Path:
        """The local folder where things kept with this model live (e.g. its discriminators): a store
        model's own folder, the zoo model's folder in the store, or a folder of the store's
        `.hub/` for a Hub model (the Hub's cache is read-only to us). The app writes here only for a
        visitor's own run; what a visitor keeps for any other model goes to `visitor_home`."""
        root = store.root if store is not None else weights_dir()
        if self.kind == "store":
            return self.stored.path
        if self.kind == "zoo":
            return root / self.text
        if self.kind == "packaged":
            return packaged_home(self.text, root)
        return root / ".hub" / re.sub(r"[^A-Za-z0-9_.-]+", "--", self.text).strip(".")

    @property
    def key(self) -> str:
        """The one name of this model for the app's model cache (`load_public` loads it): a store
        model's folder, else the text. Two visitors' runs of one name have different keys."""
        return self.stored.folder if self.kind == "store" else self.text

    def kept_key(self) -> str:
        """A folder name, unique to this model, for what a visitor keeps for it in their own space
        (`ModelStore.visitor_space`): its kind, a readable part and a hash of its key."""
        readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.key).strip(".-")[:60]
        return f"{self.kind}-{readable}-{hashlib.sha256(self.key.encode()).hexdigest()[:12]}"

    def visitor_home(self, owner: str, store: ModelStore | None = None, kind: str = "discriminators") -> Path:
        """Where visitor `owner` keeps things of `kind` for this model: in their own space, never in the
        model's folder (which may be the owner's, the zoo's or another visitor's)."""
        return (store or ModelStore()).visitor_space(owner) / kind / self.kept_key()

    def init_source(self) -> str:
        """What `TrainConfig.init` takes for this source (a store model by its folder)."""
        if self.kind == "store":
            return str(self.stored.path)
        if self.kind == "hub":
            download_model_folder(self.hub, max_bytes=hub_max_bytes())  # the size check, and the cache
        return self.text


def resolve(text: str, store: ModelStore | None = None,
            visible: Callable[[StoredModel], bool] | None = None) -> PublicSource:
    """`text` as a source a visitor may use, or `SourceRefused` with the same message for any other
    text (an existing server path and a missing one read the same). `visible` limits which of the
    store's models count, each by the name its visitor knows (`ModelStore.visible_models`); without
    it, every model counts, by its folder's name (`PublicSource.key` resolves this way)."""
    text = (text or "").strip()
    if text in ZOO:
        return PublicSource("zoo", text)
    if text in PACKAGED:
        return PublicSource("packaged", text)
    store = store or ModelStore()
    for stored in store.models() if visible is None else store.visible_models(visible):
        if stored.name == text:
            return PublicSource("store", text, stored=stored)
    hub = parse_hub_source(text)
    if hub is not None:
        allowed = hub_allowed_owners()
        owner = hub.repo_id.split("/")[0]
        if allowed is not None and owner not in allowed:
            raise SourceRefused(f"Hub owner {owner!r} is not in CYCLEGAN_HUB_ALLOW",
                                public=f"this app loads Hub models only from {', '.join(sorted(allowed))}")
        return PublicSource("hub", text, hub=hub)
    shown = repr(text if len(text) <= 80 else text[:77] + "…")
    zoo = "e.g. horse2zebra, style_monet or vintage"
    raise SourceRefused(REFUSAL.format(text=shown, zoo=zoo), public=REFUSAL.format(text="That", zoo=zoo))


def load_public(text: str, store: ModelStore | None = None, device: str | None = None) -> CycleGAN:
    """Resolve and load a source by its `PublicSource.key` (the app's model cache uses this as its
    loader: visitors' texts are resolved to keys first), on the GPU where the machine has one."""
    return resolve(text, store).load(device or default_device())
