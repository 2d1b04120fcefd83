"""Errors that tell the user what to do.

Every error raised on purpose by promptopt derives from :class:`PromptoptError`, so the CLI can
print its message (which names the flag, variable, file or extra involved) and exit non-zero
without a traceback.
"""

from __future__ import annotations


class PromptoptError(Exception):
    """Base class of promptopt's own errors: the message is meant for the user."""

    #: The CLI's exit status for this error (bad input data uses 2, like bad flags).
    exit_code: int = 1


class ModelSpecError(PromptoptError, ValueError):
    """A model spec string could not be understood (bad input: exit 2, as for a bad flag)."""

    exit_code = 2


class MissingExtraError(PromptoptError, ImportError):
    """An optional dependency group is needed but not installed."""

    def __init__(self, extra: str, purpose: str, module: str) -> None:
        self.extra = extra
        self.module = module
        super().__init__(
            f"{purpose} needs the optional '{extra}' extra (module '{module}' is not installed). "
            f"Install it with: pip install 'promptopt[{extra}]'"
        )


def require_extra(extra: str, flag: str, module: str) -> None:
    """A flag that needs an optional extra is bad input (exit 2) without it, naming the extra;
    checked before any work, importing ``module`` only then."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        error = MissingExtraError(extra, flag, module)
        error.exit_code = 2
        raise error from None


class MissingKeyError(PromptoptError):
    """An API key environment variable is required but not set."""

    def __init__(self, variable: str, spec: str) -> None:
        self.variable = variable
        super().__init__(
            f"Model '{spec}' needs an API key in the environment variable {variable}, which is "
            f"not set. Export it (export {variable}=...) or name another variable with "
            f"'?key_env=NAME' at the end of the model spec."
        )


class CacheError(PromptoptError):
    """The response cache file cannot be used (corrupt, locked, unwritable)."""


class DiskError(PromptoptError):
    """A file could not be written (read-only place, full disk, no permission): one line naming
    the path and the reason; what was written before stays intact."""

    def __init__(self, path: object, exc: OSError, what: str = "write") -> None:
        import errno

        self.path = path
        reason = exc.strerror or str(exc)
        hint = {
            errno.ENOSPC: " (the disk is full: free some space, then run again with --resume)",
            errno.EDQUOT: " (the disk quota is exceeded: free some space, then run again with --resume)",
            errno.EFBIG: " (the file size limit was reached)",
            errno.EROFS: " (the file system is read-only: choose another directory)",
            errno.EACCES: " (no permission: choose another directory)",
        }.get(exc.errno or 0, "")
        super().__init__(f"cannot {what} {path}: {reason}{hint}")


class UsageError(PromptoptError, ValueError):
    """A flag's value cannot work, found before any request (exit 2, as for a bad flag)."""

    exit_code = 2
