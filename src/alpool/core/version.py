"""alpool's version, as installed (the one place that reads it)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("alpool")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"
