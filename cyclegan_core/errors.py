"""Errors the user can act on. Each message says what was wrong and, where possible, what to do."""


class CycleGANError(Exception):
    """Base class: the CLI and the UI show these messages as they are, without a traceback."""


class ModelFormatError(CycleGANError):
    """A model folder or checkpoint is not in the expected format (keys, shapes, config)."""


class ModelNotFoundError(CycleGANError):
    """A model source could not be found or reached (local folder, zoo, Hub, upstream)."""


class ImageError(CycleGANError):
    """An input image cannot be used (unreadable, corrupt, too large, …)."""


class DataError(CycleGANError):
    """Training data that cannot be used as given (missing, empty, unsafe zip, …)."""


class RunError(CycleGANError):
    """A training run folder or its training state cannot be used (missing, finished, clashing, damaged)."""
