"""CycleGAN Studio's core: networks, model folders, model sources and translation. No UI here."""

from .checkpoint import is_model_folder, load_model, save_model
from .config import ModelConfig
from .convert import convert_official
from .errors import CycleGANError, ImageError, ModelFormatError, ModelNotFoundError
from .images import load_image
from .model import DIRECTIONS, CycleGAN, CycleResult
from .sources import load
from .zoo import ZOO, weights_dir

__all__ = [
    "CycleGAN", "CycleGANError", "CycleResult", "DIRECTIONS", "ImageError", "ModelConfig", "ModelFormatError",
    "ModelNotFoundError", "ZOO", "convert_official", "is_model_folder", "load", "load_image", "load_model",
    "save_model", "weights_dir",
]
