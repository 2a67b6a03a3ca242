"""Plant one mutant in the running process (a forked child of the runner, so nothing leaks).

A function's mutant swaps the function's ``__code__`` for the mutated one, so every caller,
including those that imported it by name, runs the bug. A module constant's mutant rebinds the
name in its module and in every project module that imported the same object under that name.
An SQL schema's mutant is served in place of the file when the ledger reads it.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import sys
import tomllib
import types
from pathlib import Path
from typing import Any

from tests.mutation.operators import Mutant, mutated_sql, mutated_tree

__all__ = ["PROJECT_PACKAGES", "MutantNotAppliedError", "module_name", "plant"]

PROJECT_PACKAGES: tuple[str, ...] = tuple(
    tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text("utf-8"))[
        "tool"
    ]["hatch"]["build"]["targets"]["wheel"]["packages"]
)
"""The project's packages, as the wheel ships them: where a mutated constant is rebound."""


class MutantNotAppliedError(Exception):
    """The mutant could not be planted (the runner reports it as an error, not a survivor)."""


def module_name(path: str) -> str:
    """``switch/ledger/rules.py`` -> ``switch.ledger.rules``."""
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def plant(root: Path, mutant: Mutant) -> None:
    """Make the running process run ``mutant`` from now on."""
    if mutant.path.endswith(".sql"):
        _serve_schema(root / mutant.path, mutated_sql(root, mutant))
        return
    module = importlib.import_module(module_name(mutant.path))
    if mutant.find:
        _plant_text(root, mutant, module)
        return
    tree = mutated_tree(root, mutant)
    assignment = _module_assignment(tree, mutant.scope)
    if assignment is not None:
        _rebind(module, mutant.scope, assignment, str(root / mutant.path))
    else:
        _swap_code(module, tree, mutant.scope, str(root / mutant.path))


def _plant_text(root: Path, mutant: Mutant, module: types.ModuleType) -> None:
    """Plant a hand-written mutant: swap in every function whose body the edit changes."""
    original = (root / mutant.path).read_text("utf-8")
    if mutant.find not in original:
        raise MutantNotAppliedError(f"{mutant.path} no longer holds {mutant.find!r}")
    tree = ast.parse(original.replace(mutant.find, mutant.replace_with, 1))
    before = _definitions(ast.parse(original))
    changed = [
        scope
        for scope, node in _definitions(tree).items()
        if ast.dump(node) != ast.dump(before.get(scope, ast.Pass()))
    ]
    if not changed:
        raise MutantNotAppliedError(f"{mutant.description}: the edit changes no function")
    for scope in changed:
        _swap_code(module, tree, scope, str(root / mutant.path))


def _definitions(tree: ast.Module) -> dict[str, ast.AST]:
    """Functions and methods by qualified name (a class's methods, not nested functions)."""
    found: dict[str, ast.AST] = {}
    pending: list[tuple[str, ast.stmt]] = [("", statement) for statement in tree.body]
    while pending:
        prefix, node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[prefix + node.name] = node
        elif isinstance(node, ast.ClassDef):
            pending.extend((f"{prefix}{node.name}.", inner) for inner in node.body)
    return found


def _module_assignment(tree: ast.Module, name: str) -> ast.expr | None:
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            if isinstance(target, ast.Name) and target.id == name:
                return statement.value
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and statement.target.id == name
        ):
            return statement.value
    return None


def _rebind(module: types.ModuleType, name: str, value: ast.expr, filename: str) -> None:
    expression = ast.fix_missing_locations(ast.Expression(value))
    new = eval(compile(expression, filename, "eval"), vars(module))
    old = getattr(module, name)
    for other in list(sys.modules.values()):
        owner = getattr(other, "__name__", "") or ""
        if owner.split(".")[0] in PROJECT_PACKAGES and getattr(other, name, None) is old:
            setattr(other, name, new)


def _swap_code(module: types.ModuleType, tree: ast.Module, scope: str, filename: str) -> None:
    compiled = compile(tree, filename, "exec", dont_inherit=True)
    mutated = {(c.co_qualname, c.co_firstlineno): c for c in _code_objects(compiled)}
    functions = _functions(module, scope)
    if not functions:
        raise MutantNotAppliedError(f"{scope}: no function of that name in {module.__name__}")
    swapped = 0
    for function in functions:
        code = mutated.get((function.__code__.co_qualname, function.__code__.co_firstlineno))
        if code is None:
            continue
        if code.co_freevars != function.__code__.co_freevars:
            raise MutantNotAppliedError(f"{scope}: the mutant changes the function's closure")
        function.__code__ = code
        swapped += 1
    if not swapped:
        raise MutantNotAppliedError(f"{scope}: no compiled code matches {module.__name__}.{scope}")


def _code_objects(code: types.CodeType) -> list[types.CodeType]:
    found = [code]
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            found.extend(_code_objects(constant))
    return found


def _functions(module: types.ModuleType, scope: str) -> list[types.FunctionType]:
    """The function objects ``scope`` names in ``module``, unwrapped from their decorators."""
    owner: Any = module
    *path, last = scope.split(".")
    for part in path:
        owner = vars(owner).get(part) if isinstance(owner, type) else getattr(owner, part, None)
    if owner is None:
        return []
    attribute = vars(owner).get(last) if isinstance(owner, type) else getattr(owner, last, None)
    pending: list[Any] = [attribute]
    found: list[types.FunctionType] = []
    while pending:
        item = pending.pop()
        if isinstance(item, types.FunctionType):
            found.append(item)
            if hasattr(item, "__wrapped__"):
                pending.append(inspect.unwrap(item))
        elif isinstance(item, staticmethod | classmethod):
            pending.append(item.__func__)
        elif isinstance(item, property):
            pending.extend(f for f in (item.fget, item.fset, item.fdel) if f is not None)
        elif isinstance(item, functools.cached_property):
            pending.append(item.func)
        elif hasattr(item, "wrapped"):  # pydantic's validator and serializer proxies
            pending.append(item.wrapped)
        elif hasattr(item, "__wrapped__"):  # functools.cache and other wrappers
            pending.append(item.__wrapped__)
    return [f for f in found if f.__code__.co_qualname == scope]


def _serve_schema(path: Path, text: str) -> None:
    target = path.resolve()
    original = Path.read_text

    def read_text(self: Path, *args: Any, **kwargs: Any) -> str:
        if self.resolve() == target:
            return text
        return original(self, *args, **kwargs)

    Path.read_text = read_text  # type: ignore[method-assign]
