"""The optional parts of horde-users, and the one clear error when one of them is not installed.

``pip install horde-users`` brings the models and the clients only. The command line, the sandbox, the
moderation toolkit and the console each need an extra (``pip install 'horde-users[sandbox]'``); a
package that needs one calls :func:`require` before importing anything heavy, so a missing extra is
one :class:`MissingExtraError` naming what to install instead of a ``No module named ...`` deep inside.
"""

from __future__ import annotations

import importlib.util

EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "cli": ("typer", "rich", "sqlalchemy", "platformdirs"),
    "sandbox": ("fastapi", "uvicorn", "sqlalchemy", "bleach"),
    "postgres": ("psycopg",),
    "fast": ("aiohttp",),
    "moderation": ("sqlalchemy", "platformdirs"),
    "console": (
        "typer",
        "rich",
        "sqlalchemy",
        "platformdirs",
        "fastapi",
        "uvicorn",
        "jinja2",
        "python_multipart",
    ),
}
"""The top-level modules each extra provides (its packages' import names), smallest extras first."""


def install_command(extra: str) -> str:
    """The shell command that installs ``extra``, quoted for POSIX shells."""
    return f"pip install 'horde-users[{extra}]'"


class MissingExtraError(ImportError):
    """An optional part of horde-users was used without its extra installed.

    An :class:`ImportError`, so code that already guards optional imports keeps working; ``extra`` is
    the extra's name and ``name`` the first missing module.
    """

    def __init__(self, extra: str, missing: str) -> None:
        super().__init__(
            f"the horde-users[{extra}] extra is not installed ({missing} is missing): "
            + install_command(extra),
            name=missing,
        )
        self.extra = extra


def _importable(module: str) -> bool:
    """Whether ``module`` can be found, without importing it (and so without its import cost)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken/blocked finder
        return False


def require(extra: str, *modules: str) -> None:
    """Raise :class:`MissingExtraError` unless ``modules`` (default: all of ``extra``'s) are installed.

    Cheap: modules are looked up, not imported.
    """
    for module in modules or EXTRA_MODULES[extra]:
        if not _importable(module):
            raise MissingExtraError(extra, module)


def extra_providing(module: str) -> str | None:
    """The smallest extra that provides ``module`` (a dotted name is looked up by its top level)."""
    top = module.partition(".")[0]
    return next((extra for extra, provided in EXTRA_MODULES.items() if top in provided), None)


def missing_extra_message(error: ImportError) -> str | None:
    """One line saying what to install, when ``error`` means an extra is missing; else None.

    Turns a :class:`MissingExtraError`, or a plain ``No module named 'fastapi'`` from code that
    imported an optional package without :func:`require`, into the same hint.
    """
    if isinstance(error, MissingExtraError):
        return str(error)
    if isinstance(error, ModuleNotFoundError) and error.name:
        extra = extra_providing(error.name)
        if extra is not None:
            return str(MissingExtraError(extra, error.name))
    return None
