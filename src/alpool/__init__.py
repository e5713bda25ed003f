"""alpool: initial pools for deep active learning on images."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("alpool")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
