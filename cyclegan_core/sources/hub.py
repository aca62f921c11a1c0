"""Model folders from the Hugging Face Hub, through `huggingface_hub`'s own download and cache.

A source is `owner/name`, optionally followed by a subfolder and a revision:
`owner/name/horse2zebra@main`. The endpoint is probed first with a short timeout, so an
offline machine gets a clear answer in seconds instead of the client's retry loop; with no
network, files already in the Hub cache are still used.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

import huggingface_hub
from huggingface_hub import constants as hf_constants
from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                    RepositoryNotFoundError, RevisionNotFoundError)

from cyclegan_core.errors import ModelNotFoundError, SourceRefused
from cyclegan_core.model.folder import CONFIG_NAME, WEIGHTS_NAME
from cyclegan_core.sources.download import probe

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(/[\w.-]+)*(@[\w./-]+)?$")


class HubSource(NamedTuple):
    repo_id: str
    subfolder: str | None
    revision: str | None

    def __str__(self) -> str:
        text = self.repo_id + (f"/{self.subfolder}" if self.subfolder else "")
        return text + (f"@{self.revision}" if self.revision else "")


def parse_hub_source(source: str) -> HubSource | None:
    """'owner/name[/sub/folder][@revision]' → HubSource, or None if it does not look like one."""
    if not _HUB_ID.match(source) or ".." in source:
        return None
    path, _, revision = source.partition("@")
    owner, name, *sub = path.split("/")
    return HubSource(f"{owner}/{name}", "/".join(sub) or None, revision or None)


def hub_endpoint() -> str:
    """`HF_ENDPOINT` as set now (a mirror, or a test's loopback server), else huggingface_hub's default."""
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or hf_constants.ENDPOINT


def download_model_folder(source: HubSource, max_bytes: int | None = None) -> Path:
    """Fetch config.json and model.safetensors into the Hub cache; return the folder holding both.

    With `max_bytes`, the size of model.safetensors is read from the Hub's file metadata first and a
    larger (or unsized) file is refused before any byte of it is downloaded."""
    endpoint = hub_endpoint()
    offline_reason = "HF_HUB_OFFLINE is set" if hf_constants.HF_HUB_OFFLINE else probe(endpoint)
    paths = []
    filename = WEIGHTS_NAME
    try:
        if max_bytes is not None and offline_reason is None:
            _check_size(source, endpoint, max_bytes)
        for filename in (CONFIG_NAME, WEIGHTS_NAME):
            paths.append(huggingface_hub.hf_hub_download(
                source.repo_id, filename, subfolder=source.subfolder, revision=source.revision,
                endpoint=endpoint, local_files_only=offline_reason is not None,
                library_name="cyclegan-studio"))
    except LocalEntryNotFoundError:
        raise ModelNotFoundError(f"the Hub ({endpoint}) cannot be reached ({offline_reason}) and {source} is "
                                 f"not in the local Hub cache",
                                 public=f"This server cannot reach the Hugging Face Hub right now (it may be "
                                        f"offline), and {source} has not been downloaded here before. The models "
                                        f"marked ready, such as the built-in modern photo → vintage photo, work "
                                        f"without it.") from None
    except GatedRepoError:
        raise ModelNotFoundError(f"Hub repo {source.repo_id} is gated: accept its terms on the Hub and log in "
                                 f"(HF_TOKEN) to use it") from None
    except RepositoryNotFoundError:
        raise ModelNotFoundError(f"Hub repo {source.repo_id} was not found (check the name; a private repo "
                                 f"needs HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise ModelNotFoundError(f"Hub repo {source.repo_id} has no revision {source.revision!r}") from None
    except EntryNotFoundError:
        where = f"{source.repo_id}/{source.subfolder}" if source.subfolder else source.repo_id
        raise ModelNotFoundError(f"Hub repo {where} has no {filename}: a model folder holds "
                                 f"{CONFIG_NAME} and {WEIGHTS_NAME}") from None
    except (HfHubHTTPError, OSError) as e:
        raise ModelNotFoundError(f"downloading {source} from the Hub failed: {e}") from None
    return Path(paths[0]).parent


def _check_size(source: HubSource, endpoint: str, max_bytes: int) -> None:
    url = huggingface_hub.hf_hub_url(source.repo_id, WEIGHTS_NAME, subfolder=source.subfolder,
                                     revision=source.revision, endpoint=endpoint)
    size = huggingface_hub.get_hf_file_metadata(url, endpoint=endpoint, library_name="cyclegan-studio").size
    if size is None or size > max_bytes:
        what = "of unknown size" if size is None else f"{size / 2**20:.0f} MB"
        raise SourceRefused(f"{source}'s {WEIGHTS_NAME} is {what}; this app loads Hub models up to "
                            f"{max_bytes / 2**20:.0f} MB (CYCLEGAN_HUB_MAX_BYTES)",
                            public=f"{source}'s {WEIGHTS_NAME} is {what}; this app loads Hub models up to "
                                   f"{max_bytes / 2**20:.0f} MB")
