"""The ``horde-users`` command line: tables for people, ``--json`` for scripts.

Importing this package is cheap: the typer app, the client and the sandbox are loaded only when a
command needs them, so ``horde-users --help`` stays fast. It needs the ``cli`` extra; without it (or
without the ``sandbox`` extra for a sandbox command) the command prints what to install and exits 2.
"""

from __future__ import annotations

import sys

__all__ = ["main"]

EXIT_MISSING_EXTRA = 2
"""A missing extra is a usage error: the command cannot run as installed."""


def main() -> None:
    """Run the command line (the ``horde-users`` console script)."""
    from horde_users._extras import missing_extra_message, require

    try:
        require("cli")
        from horde_users.cli.app import run

        run()
    except ImportError as error:
        message = missing_extra_message(error)
        if message is None:
            raise
        sys.stderr.write(f"error: {message}\n")
        sys.exit(EXIT_MISSING_EXTRA)
