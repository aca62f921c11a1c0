"""Small HTTP helpers: a reachability probe that really is short, and a verified download.

`socket` timeouts do not cover DNS look-ups, so the probe runs in a daemon thread and is
abandoned after `timeout` seconds whatever the resolver is doing.
"""

from __future__ import annotations

import hashlib
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from cyclegan_core.atomic import atomic_path

PROBE_TIMEOUT = 3.0
USER_AGENT = "cyclegan-studio"


def probe(url: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """None if `url`'s server answers an HTTP HEAD within `timeout` seconds (any status), else why not."""
    outcome: list[str | None] = []

    def attempt():
        request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                outcome.append(None)
        except urllib.error.HTTPError:
            outcome.append(None)  # the server answered; reachable
        except (urllib.error.URLError, OSError, ValueError) as e:
            outcome.append(str(getattr(e, "reason", e)))

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


def download(url: str, dest: Path, timeout: float = 30.0, desc: str | None = None) -> str:
    """Download `url` to `dest` atomically with a progress bar; verify the length. Returns the SHA-256."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    digest = hashlib.sha256()
    received = 0
    with urllib.request.urlopen(request, timeout=timeout) as response, atomic_path(dest) as tmp:
        expected = response.headers.get("Content-Length")
        expected = int(expected) if expected and expected.isdigit() else None
        with open(tmp, "wb") as f, tqdm(total=expected, unit="B", unit_scale=True, unit_divisor=1024,
                                        desc=desc or os.path.basename(url), leave=False) as bar:
            while chunk := response.read(1 << 20):
                f.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if expected is not None and received != expected:
            raise OSError(f"download of {url} was cut short: {received} of {expected} bytes")
        if received == 0:
            raise OSError(f"download of {url} was empty")
    return digest.hexdigest()
