"""CycleGAN Studio's core: the paper's networks, model folders, model sources, translation at any
size, and training. No UI here (the app in `demo/` is thin wiring over this package).

Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks",
ICCV 2017. `G_AB` is the paper's G: A → B, `G_BA` its F, `D_A` its D_X and `D_B` its D_Y.

Rooms, one layer each; a room imports only the rooms below it (`lint-imports` checks the contract
in pyproject.toml). Read them bottom up to follow the paper, then the machinery:

    nn/                the paper's networks and losses, the image pool
    engine/            translation at any size: whole, streamed, tiled; precision; CPU kernels
    model/             a CycleGAN model, its config.json and folder, the official-weights converter
    sources/           where models come from: zoo, packaged, Hub, download; load(source)
    training/          TrainConfig, the trainer, the loop, run folders, the local store, torchrun
    teaching/          the Learn tab's computations: cycles, hidden information, patch maps, lessons

Top level, lowest first:

    errors.py          the errors a user can act on
    paths.py           where the model store lives (weights_dir)
    atomic.py          atomic file writes
    public_sources.py  what a visitor of a public app may name as a source: never a server path
    export.py          one direction of a model as an ONNX file, with its metadata
    publish.py         publishing to the Hub: model card, the exact upload folder, push a model or the zoo
    cli.py             `python -m cyclegan_core {convert,translate,export,train,fetch,push,push-zoo}` (__main__.py runs it)

Each room's __init__.py maps its modules.
"""

from cyclegan_core.engine.images import load_image
from cyclegan_core.engine.video import VIDEO_SUFFIXES, VideoInfo, is_video, probe_video
from cyclegan_core.engine.video_translation import VideoProgress, VideoResult
from cyclegan_core.engine.webcam import LiveTranslator
from cyclegan_core.errors import (CycleGANError, DataError, DeviceMemoryError, ImageError, ModelFormatError,
                                  ModelNotFoundError, OneWayModelError, RunError, SourceRefused, VideoError)
from cyclegan_core.model.config import ModelConfig
from cyclegan_core.model.convert import convert_official
from cyclegan_core.model.cyclegan import DIRECTIONS, CycleGAN, CycleResult
from cyclegan_core.model.folder import is_model_folder, load_model, save_model
from cyclegan_core.paths import weights_dir
from cyclegan_core.sources.resolve import load
from cyclegan_core.sources.zoo import ZOO
from cyclegan_core.training.config import TrainConfig
from cyclegan_core.training.loop import train
from cyclegan_core.training.runs import RunFolder
from cyclegan_core.training.store import ModelStore
from cyclegan_core.training.trainer import CycleGANTrainer

__all__ = [
    "CycleGAN", "CycleGANError", "CycleGANTrainer", "CycleResult", "DIRECTIONS", "DataError", "DeviceMemoryError",
    "ImageError", "LiveTranslator", "ModelConfig", "ModelFormatError", "ModelNotFoundError", "ModelStore",
    "OneWayModelError", "RunError", "RunFolder", "SourceRefused", "TrainConfig", "VIDEO_SUFFIXES", "VideoError",
    "VideoInfo", "VideoProgress", "VideoResult",
    "ZOO", "convert_official", "is_model_folder", "is_video", "load", "load_image", "load_model", "probe_video",
    "save_model", "train", "weights_dir",
]
