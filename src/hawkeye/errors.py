"""Errors that name what is wrong (a file and line, a config key) so bad input fails early."""


class HawkeyeError(Exception):
    """Base class: every error the pipeline raises on purpose."""


class ConfigError(HawkeyeError, ValueError):
    """A config key is unknown or out of range. The message names the key."""


class DataError(HawkeyeError, ValueError):
    """A data file or row is malformed. The message names the file and line."""


class ModelError(HawkeyeError, ValueError):
    """A model path, tokenizer or weight file is missing or corrupt."""


class TrackingError(HawkeyeError, RuntimeError):
    """The MLflow tracking store cannot be reached. The message names the URI."""
