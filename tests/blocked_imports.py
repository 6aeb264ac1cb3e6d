"""Run Python as if only the lean install were there: the extras' packages cannot be imported.

:func:`write_blocker` writes a ``sitecustomize.py`` that puts a finder in front of ``sys.meta_path``;
a Python started with that folder on ``PYTHONPATH`` (see :func:`env_without_extras`) gets
``ModuleNotFoundError`` for every package of the server and CLI stack, exactly as on a machine where
``pip install horde-users`` brought pydantic and httpx only.
"""

from __future__ import annotations

import os
from pathlib import Path

BLOCKED = ("fastapi", "starlette", "uvicorn", "uvloop", "sqlalchemy", "typer", "click", "rich", "bleach")

BLOCKER = '''
import sys


class _NotInstalled:
    """Refuse the optional packages as if they were not installed."""

    blocked = frozenset(%r)

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
'''


def write_blocker(folder: Path, blocked: tuple[str, ...] = BLOCKED) -> Path:
    """Write a ``sitecustomize.py`` refusing ``blocked`` (top-level names) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(BLOCKER % (tuple(blocked),))
    return folder


def env_without_extras(folder: Path, blocked: tuple[str, ...] = BLOCKED) -> dict[str, str]:
    """The current environment with a blocker for ``blocked`` first on ``PYTHONPATH``."""
    write_blocker(folder, blocked)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH", "")]))
    return env
