"""horde-users."""

from horde_users._version import __version__

__all__ = ["__version__"]
