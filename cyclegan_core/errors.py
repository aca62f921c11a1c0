"""Errors the user can act on. Each message says what was wrong and, where possible, what to do."""


class CycleGANError(Exception):
    """Base class: the CLI and the UI show these messages without a traceback.

    `str(error)` is the full message, for the person who runs the code (the CLI, the Python API, a
    server's log). `public`, where given, is what a visitor of a public app may read instead: the
    same problem, without the server's paths, settings or repair commands."""

    def __init__(self, message: str, public: str | None = None):
        super().__init__(message)
        self.public = public


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


class SourceRefused(ModelNotFoundError):
    """A model source that this app does not accept from a visitor (a server path, an owner not on
    the allow-list, a file over the size cap)."""


class OneWayModelError(CycleGANError):
    """A one-way model (G only) was asked for its reverse direction, a cycle or training of both
    generators."""


class DeviceMemoryError(CycleGANError):
    """The device (a GPU, or the CPU's memory) ran out of memory for this translation or training step."""


class VideoError(CycleGANError):
    """An input video cannot be used (not a video PyAV can read, audio only, no frames, truncated,
    too many pixels per frame, too long), or an output video that cannot be written as asked."""
