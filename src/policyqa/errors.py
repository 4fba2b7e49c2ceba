"""Errors policyqa raises on purpose. The CLI prints them as one line (exit 2); the web
app shows them as messages. Each message says what went wrong and what to do."""


class PolicyQAError(Exception):
    """Base class for errors meant for the user."""


class ConfigError(PolicyQAError):
    """A setting is unknown or has a bad value."""


class AccessDenied(PolicyQAError):
    """The caller may read a library but not change it (REST: 403)."""


class NotFound(PolicyQAError):
    """No such document or library for this caller; one it may not read is reported the
    same way, so its existence is not revealed (REST: 404)."""


class LoadError(PolicyQAError):
    """A corpus file cannot be read. ``source`` names it, ``reason`` says why."""

    def __init__(self, source: str, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class IndexMissingError(PolicyQAError):
    """No usable index at the given directory."""


class IndexMismatchError(PolicyQAError):
    """The index was built with another model or settings than the ones asked for."""


class IndexFormatError(IndexMismatchError):
    """The index on disk is from another policyqa version, incomplete or damaged: rebuild it."""


class IndexDamagedError(IndexFormatError):
    """A file of the index is missing, truncated or not what the build wrote. ``file`` names
    it, ``reason`` says what is wrong with it."""

    def __init__(self, file: object, reason: str):
        super().__init__(f"index damaged: {file}: {reason}; run 'policyqa index --rebuild'")
        self.file = str(file)
        self.reason = reason


class DiskFullError(PolicyQAError):
    """The disk (or the user's quota) filled up while a build wrote the index."""


class IndexBusyError(PolicyQAError):
    """Another process is building the index."""


class ModelLoadError(PolicyQAError):
    """The embedding model cannot be loaded."""
