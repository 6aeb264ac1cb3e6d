"""Section 0: does ``horde_users.models`` have every name of the reference SDK's users API models?

Run in .venv-bench (which has horde-sdk 0.33.3). The reference's users API models are the public
classes its ``apimodels.users`` and ``apimodels.find_user`` modules define, and the models their fields
hold (the style a user lists). For each: the class must exist in ``horde_users.models`` under the same
name, with every field of the same name, every field alias the same, and every public method and
property the reference's own classes define (pydantic's are left out: both sides have them). Only
names are read from the reference; nothing of its code is used. Prints ``N/M present`` and what is
missing; ``--out`` writes the result for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, RootModel

REFERENCE_MODULES = ("horde_sdk.ai_horde_api.apimodels.users", "horde_sdk.ai_horde_api.apimodels.find_user")
_PYDANTIC_NAMES = set(dir(BaseModel)) | set(dir(RootModel))


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The horde-sdk model classes an annotation mentions (``list[X] | None`` gives X)."""
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation.__module__.startswith("horde_sdk.ai_horde_api.apimodels."):
            found.append(annotation)
        return found
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def reference_classes() -> list[type[BaseModel]]:
    """The reference's public users API model classes, and the models their fields hold."""
    import importlib

    classes: dict[str, type[BaseModel]] = {}
    pending: list[type[BaseModel]] = []
    for module_name in REFERENCE_MODULES:
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if (
                not name.startswith("_")
                and inspect.isclass(value)
                and issubclass(value, BaseModel)
                and value.__module__ == module_name
            ):
                pending.append(value)
    while pending:
        cls = pending.pop()
        # private bases and parametrised generics (``Base[list[X]]``) are no names a user imports
        if cls.__name__ in classes or cls.__name__.startswith("_") or "[" in cls.__name__:
            continue
        classes[cls.__name__] = cls
        for info in cls.model_fields.values():
            pending += _models_in(info.annotation)
    return sorted(classes.values(), key=lambda c: c.__name__)


def public_methods(cls: type) -> list[str]:
    """Public methods and properties defined by the reference's own classes (not pydantic's)."""
    names = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("horde_sdk."):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in _PYDANTIC_NAMES or name == "model_config":
                continue
            if callable(value) or isinstance(value, (property, classmethod, staticmethod)):
                names.add(name)
    return sorted(names)


def check() -> tuple[list[str], list[str]]:
    """Every item checked, and the ones missing from ``horde_users.models``."""
    import horde_users.models as ours

    checked: list[str] = []
    missing: list[str] = []

    def expect(label: str, ok: bool) -> None:
        checked.append(label)
        if not ok:
            missing.append(label)

    for ref in reference_classes():
        name = ref.__name__
        mine = getattr(ours, name, None)
        expect(f"class {name}", isinstance(mine, type))
        our_fields = mine.model_fields if isinstance(mine, type) and issubclass(mine, BaseModel) else {}
        for field_name, info in ref.model_fields.items():
            expect(f"{name}.{field_name} (field)", field_name in our_fields)
            if info.alias is not None:
                our_alias = our_fields[field_name].alias if field_name in our_fields else None
                expect(f"{name}.{field_name} alias {info.alias!r}", our_alias == info.alias)
        for method in public_methods(ref):
            expect(f"{name}.{method}()", mine is not None and hasattr(mine, method))
    return checked, missing


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument("--quick", action="store_true", help="accepted for bench/run.py; changes nothing")
    args = parser.parse_args()
    os.environ.setdefault("LOGFIRE_IGNORE_NO_CONFIG", "1")
    from loguru import logger

    logger.remove()  # horde-sdk logs at DEBUG to stderr on import
    checked, missing = check()
    print(f"{len(checked) - len(missing)}/{len(checked)} present")
    for label in missing:
        print(f"missing: {label}")
    if args.out is not None:
        result = {"checked": len(checked), "missing": missing, "modules": list(REFERENCE_MODULES)}
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
