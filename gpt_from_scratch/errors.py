"""The errors the package raises for bad input; each message says what was wrong and what to do."""


class GPTFromScratchError(Exception):
    """Base class: the command-line tool prints these as one clear line instead of a traceback."""


class DownloadError(GPTFromScratchError):
    """A file could not be fetched, or what arrived failed its integrity check."""


class DataError(GPTFromScratchError, ValueError):
    """A data file or a message is malformed (bad line, empty message, too long for the model)."""


class WeightsError(GPTFromScratchError, ValueError):
    """A checkpoint is missing, incomplete, corrupt or for another model size."""


class ModelDirError(GPTFromScratchError, FileNotFoundError):
    """A --model-dir that holds no finetuned classifier."""


class DeviceError(GPTFromScratchError, RuntimeError):
    """The requested device (cuda, mps) is not available on this machine."""


class OptionError(GPTFromScratchError, ValueError):
    """An option, or a combination of options, that cannot do what it says."""


class TrainingError(GPTFromScratchError, ArithmeticError):
    """Training cannot go on: the loss is no longer a finite number."""


class ShapeError(GPTFromScratchError, ValueError):
    """A learner's concept function returned a tensor of the wrong shape inside the model."""


class MissingExtraError(GPTFromScratchError, ImportError):
    """An optional feature whose extra (e.g. `pip install "gpt-from-scratch[baselines]"`) is not installed."""
