"""Domain errors: raised in the library, turned into one clear line by the CLI and the page."""


class JauapError(Exception):
    """Base class for errors a user can act on; the message says what to do."""


class InputError(JauapError):
    """A path, file or argument the user gave is unusable."""


class ConfigError(JauapError):
    """A configuration value is invalid."""


class IndexMissingError(JauapError):
    """No index where one was expected."""


class IndexMismatchError(JauapError):
    """The index was built with a different embedder or settings."""


class IndexFormatError(IndexMismatchError):
    """The index was written in another on-disk format (an older jauap): `jauap index`
    rebuilds it; serving asks for the rebuild."""


class IndexCorruptError(JauapError):
    """The index on disk is damaged (truncated, missing or inconsistent files)."""


class MissingDependencyError(JauapError):
    """An optional dependency is not installed."""


class GeneratorError(JauapError):
    """A generator backend failed (unreachable, timeout, garbage)."""


class ModelFetchError(JauapError):
    """A model could not be downloaded, or its file did not match its pinned hash."""


def require(module: str, extra: str) -> object:
    """Import an optional dependency or raise with an install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module} is not installed: pip install 'jauap[{extra}]'"
        ) from exc
