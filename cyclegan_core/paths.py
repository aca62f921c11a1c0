"""Where the model store lives on this machine."""

import os
from pathlib import Path


def weights_dir() -> Path:
    """The store's folder: `CYCLEGAN_WEIGHTS_DIR`, or `weights/` beside the package."""
    env = os.environ.get("CYCLEGAN_WEIGHTS_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "weights"
