"""Check that the sync and async clients are twins: ``python -m tests.client.twins`` (part of ``make lint``).

For each pair (``HordeUsers`` / ``AsyncHordeUsers``, ``HttpxTransport`` / ``AsyncHttpxTransport``) the
two classes must have the same methods, with the same signatures and the same bodies once the async
one is read as sync: ``async def`` / ``async for`` / ``async with`` lose their ``async``, ``await x`` is
``x``, ``for u in x: yield u`` is ``yield from x``, and the names in ``RENAMES`` are swapped (as
httpcore's unasync script does). Docstrings are not compared. ``ASYNC_ONLY_PARAMETERS`` lists what
only the async client takes (its choice of HTTP library). Prints each difference and exits 1 on any.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[2] / "src" / "horde_users"
PAIRS = (
    (SRC / "client.py", "HordeUsers", "AsyncHordeUsers"),
    (SRC / "_transport.py", "HttpxTransport", "AsyncHttpxTransport"),
)
RENAMES = {
    "AsyncHordeUsers": "HordeUsers",
    "AsyncHttpxTransport": "HttpxTransport",
    "AsyncTransport": "HttpxTransport",
    "AsyncIterator": "Iterator",
    "AsyncClient": "Client",
    "Awaitable": "",
    "anyio": "time",
    "aclose": "close",
    "aiter_bytes": "iter_bytes",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "async_transport": "HttpxTransport",
}
"""Async name -> sync name; an empty name drops the subscript around it (``Awaitable[None]`` -> ``None``)."""
ASYNC_ONLY_PARAMETERS = {("AsyncHordeUsers", "__init__"): {"http_backend"}}


class _Unasync(ast.NodeTransformer):
    """Rewrite an async class body into what its sync twin should read."""

    def __init__(self, dropped_parameters: set[str]) -> None:
        self._dropped = dropped_parameters

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        self.generic_visit(node)
        name = RENAMES.get(node.name, node.name)
        fields: dict[str, Any] = {field: getattr(node, field, None) for field in node._fields}
        return ast.FunctionDef(**{**fields, "name": name})

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.generic_visit(node)
        node.name = RENAMES.get(node.name, node.name)
        return node

    def visit_AsyncFor(self, node: ast.AsyncFor) -> ast.AST:
        self.generic_visit(node)
        return ast.For(node.target, node.iter, node.body, node.orelse, node.type_comment)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> ast.AST:
        self.generic_visit(node)
        return ast.With(node.items, node.body, node.type_comment)

    def visit_Await(self, node: ast.Await) -> ast.AST:
        unwrapped: ast.AST = self.visit(node.value)
        return unwrapped

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = RENAMES.get(node.id, node.id)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        node.attr = RENAMES.get(node.attr, node.attr)
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.value, ast.Name) and node.value.id == "":
            return node.slice
        return node

    def visit_arguments(self, node: ast.arguments) -> ast.AST:
        self.generic_visit(node)
        keep = [
            (arg, default)
            for arg, default in zip(node.kwonlyargs, node.kw_defaults, strict=True)
            if arg.arg not in self._dropped
        ]
        node.kwonlyargs = [arg for arg, _ in keep]
        node.kw_defaults = [default for _, default in keep]
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        node.args = [a for a in node.args if not (isinstance(a, ast.Name) and a.id in self._dropped)]
        return node


class _Normalise(ast.NodeTransformer):
    """What both sides go through: no docstrings, ``for u in x: yield u`` read as ``yield from x``."""

    def visit_For(self, node: ast.For) -> ast.AST:
        self.generic_visit(node)
        body = node.body
        if (
            not node.orelse
            and isinstance(node.target, ast.Name)
            and len(body) == 1
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Yield)
            and isinstance(body[0].value.value, ast.Name)
            and body[0].value.value.id == node.target.id
        ):
            return ast.Expr(ast.YieldFrom(node.iter))
        return node

    def _strip_docstring(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        self.generic_visit(node)
        first = node.body[0] if node.body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
            and len(node.body) > 1
        ):
            node.body = node.body[1:]
        return node

    visit_FunctionDef = _strip_docstring
    visit_AsyncFunctionDef = _strip_docstring


def _methods(tree: ast.Module, class_name: str) -> dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]]:
    """The class's functions by name (overloads give several)."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            found: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found.setdefault(item.name, []).append(item)
            return found
    raise LookupError(f"no class {class_name}")


def compare(source: str, sync_name: str, async_name: str) -> list[str]:
    """Every way the async class in ``source`` differs from its sync twin (empty: twins)."""
    tree = ast.parse(source)
    sync_methods = _methods(tree, sync_name)
    async_methods = _methods(tree, async_name)
    problems: list[str] = []
    renamed = {RENAMES.get(name, name): name for name in async_methods}
    for name in sorted(set(sync_methods) - set(renamed)):
        problems.append(f"{async_name} lacks {name}() (the twin of {sync_name}.{name})")
    for name in sorted(set(renamed) - set(sync_methods)):
        problems.append(f"{async_name}.{renamed[name]}() has no twin in {sync_name}")
    for name in sorted(set(sync_methods) & set(renamed)):
        dropped = ASYNC_ONLY_PARAMETERS.get((async_name, renamed[name]), set())
        expected = [ast.dump(_Normalise().visit(node)) for node in sync_methods[name]]
        got = [
            ast.dump(_Normalise().visit(_Unasync(dropped).visit(node)))
            for node in async_methods[renamed[name]]
        ]
        if expected != got:
            line = async_methods[renamed[name]][0].lineno
            problems.append(
                f"{async_name}.{renamed[name]}() (line {line}) is not {sync_name}.{name}() made async"
            )
    return problems


def main() -> int:
    problems: list[str] = []
    for path, sync_name, async_name in PAIRS:
        problems += [f"{path.name}: {p}" for p in compare(path.read_text(), sync_name, async_name)]
    for problem in problems:
        print(problem)
    if problems:
        print("the sync and async twins drifted apart: change both the same way", file=sys.stderr)
        return 1
    print(f"twins: {len(PAIRS)} pairs in step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
