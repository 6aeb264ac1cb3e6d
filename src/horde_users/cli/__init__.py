"""The ``horde-users`` command line: tables for people, ``--json`` for scripts.

Importing this package is cheap: the typer app, the client and the sandbox are loaded only when a
command needs them, so ``horde-users --help`` stays fast.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Run the command line (the ``horde-users`` console script)."""
    from horde_users.cli.app import run

    run()
