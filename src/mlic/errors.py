"""Every error mlic raises on purpose derives from :class:`MlicError`."""


class MlicError(Exception):
    """Base class of all mlic errors."""


class InvalidImageError(MlicError, ValueError):
    """The input image cannot be read or is not supported."""


class LimitExceededError(MlicError, ValueError):
    """An image or file exceeds a configured limit (pixels, memory, size)."""


class FormatError(MlicError, ValueError):
    """A .mlic file is malformed: bad magic, CRC mismatch, truncated or inconsistent."""


class UnsupportedVersionError(FormatError):
    """The file was written by a newer, incompatible format version."""


class ModelMismatchError(MlicError, ValueError):
    """The file was encoded with a model other than the one available for decoding."""


class DecodeError(FormatError):
    """The entropy-coded data is inconsistent (corrupt, truncated or decoded with other tables)."""


class DesyncError(DecodeError):
    """Decoded symbols fail their checksum: the decoder computed different probabilities than the encoder."""


class ModelNotFoundError(MlicError, LookupError):
    """No registered model or weight file of that name."""


class CheckpointError(MlicError, ValueError):
    """A checkpoint does not match the MLIC++ layout."""
