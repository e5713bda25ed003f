"""alpool: initial pools for deep active learning on images."""

from alpool.core.version import __version__

__all__ = ["__version__", "select"]


def __getattr__(name: str) -> object:
    """Import ``alpool.select`` on first use (``import alpool`` stays light)."""
    if name == "select":
        from alpool.select_api import select

        return select
    raise AttributeError(f"module 'alpool' has no attribute {name!r}")
