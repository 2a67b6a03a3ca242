"""Where a module can be mutated, and how: small deliberate bugs of the kinds that slip past
tests (a boundary off by one, a check skipped, two checks swapped, a negated condition).

A Python module's mutation sites are found by walking its syntax tree in a fixed order, so the
n-th site of a fresh parse is always the same place: a mutant is (file, site number), and
:func:`mutated_tree` re-parses the file and applies that one site. Function bodies and
module-level constants are mutated; docstrings, annotations, logging calls, f-strings and
asserts are not. An SQL schema's mutation sites are its rules: trigger bodies and CHECK
constraints (comparisons, arithmetic, AND/OR, a whole WHEN line).
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["Mutant", "mutated_sql", "mutated_tree", "python_mutants", "sql_mutants"]

_COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}  # fmt: skip
_BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult,
    ast.Div: ast.Mult, ast.Mod: ast.FloorDiv, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd,
    ast.BitXor: ast.BitOr, ast.LShift: ast.RShift, ast.RShift: ast.LShift,
}  # fmt: skip
_SYMBOLS: dict[type[ast.AST], str] = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+",
    ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Div: "/", ast.Mod: "%",
    ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>",
    ast.And: "and", ast.Or: "or",
}  # fmt: skip
_LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical", "log"})
_CODE = re.compile(r"[0-9A-Z][0-9A-Z]")
"""A string that looks like an ISO 8583 response code (``"51"``, ``"Y3"``)."""
_SKIP = "no mutate"
"""A line holding ``# no mutate`` is left alone (say why beside it)."""


@dataclass(frozen=True)
class Mutant:
    """One small bug: ``site`` of ``path`` (a Python module or an SQL schema)."""

    path: str
    """The file, relative to the project root (``switch/rules/authorization.py``)."""
    site: int
    """Which mutation site of the file, in the order :func:`python_mutants` finds them."""
    scope: str
    """What the mutant replaces: a function's qualified name (``Engine.decide``), a
    module-level name (``LIMITS``), or ``""`` for an SQL schema."""
    line: int
    description: str
    """What changes, e.g. ``<  ->  <=`` or ``delete the guard``."""
    source: str
    """The mutated line as written, stripped."""
    nth: int = 1
    """Which of the mutants with the same file, scope, change and line text this is."""
    find: str = ""
    """A planted mutant (``planted.toml``): the text it replaces, once, in the file..."""
    replace_with: str = ""
    """...and what it puts there instead."""

    @property
    def key(self) -> str:
        """A name for the mutant that survives edits elsewhere in the file: the file, scope,
        change and line text (not the line number)."""
        text = f"{self.path} | {self.scope} | {self.description} | {self.source}"
        return text if self.nth == 1 else f"{text} | #{self.nth}"


def _numbered(mutants: Iterable[Mutant]) -> list[Mutant]:
    """``mutants`` with ``nth`` set, so that each has a key of its own."""
    seen: Counter[str] = Counter()
    numbered = []
    for mutant in mutants:
        seen[mutant.key] += 1
        numbered.append(replace(mutant, nth=seen[mutant.key]))
    return numbered


@dataclass
class _Site:
    scope: str
    line: int
    description: str
    apply: Callable[[], None]


def python_mutants(root: Path, path: str) -> list[Mutant]:
    """Every mutant of the Python module at ``root / path``."""
    text = (root / path).read_text("utf-8")
    lines = text.splitlines()
    found = []
    for number, site in enumerate(_sites(ast.parse(text), lines)):
        source = lines[site.line - 1].strip() if site.line <= len(lines) else ""
        found.append(Mutant(path, number, site.scope, site.line, site.description, source))
    return _numbered(found)


def mutated_tree(root: Path, mutant: Mutant) -> ast.Module:
    """The module of ``mutant`` parsed afresh with that one mutation applied."""
    text = (root / mutant.path).read_text("utf-8")
    tree = ast.parse(text)
    sites = list(_sites(tree, text.splitlines()))
    sites[mutant.site].apply()
    return ast.fix_missing_locations(tree)


def _sites(tree: ast.Module, lines: list[str]) -> Iterator[_Site]:
    for statement in tree.body:
        yield from _top_level(statement, "", lines)


def _top_level(statement: ast.stmt, prefix: str, lines: list[str]) -> Iterator[_Site]:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
        yield from _body(statement.body, prefix + statement.name, lines)
    elif isinstance(statement, ast.ClassDef):
        for inner in statement.body:
            if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                yield from _top_level(inner, f"{prefix}{statement.name}.", lines)
    elif not prefix and isinstance(statement, ast.Assign | ast.AnnAssign):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        target = targets[0] if len(targets) == 1 else None
        if isinstance(target, ast.Name) and statement.value and not target.id.startswith("__"):
            yield from _expression(statement.value, target.id, lines)


def _body(statements: list[ast.stmt], scope: str, lines: list[str]) -> Iterator[_Site]:
    for index, statement in enumerate(statements):
        if _skipped(statement, lines) or _is_docstring(statement):
            continue
        if _is_guard(statement):
            yield _Site(scope, statement.lineno, "delete the guard",
                        _replacer(statements, index))  # fmt: skip
            following = statements[index + 1] if index + 1 < len(statements) else None
            if following is not None and _is_guard(following):
                yield _Site(scope, statement.lineno, "swap with the next guard",
                            _swapper(statements, index))  # fmt: skip
        elif isinstance(statement, ast.Expr) and _is_effect(statement.value):
            yield _Site(scope, statement.lineno, "delete the call", _replacer(statements, index))
        if isinstance(statement, ast.Assert):
            continue
        for name, value in ast.iter_fields(statement):
            if name in ("annotation", "returns", "decorator_list", "args", "type_params"):
                continue
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                yield from _body(value, scope, lines)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.ExceptHandler | ast.match_case):
                        yield from _body(item.body, scope, lines)
                    elif isinstance(item, ast.withitem):
                        yield from _expression(item.context_expr, scope, lines)
                    elif isinstance(item, ast.expr):
                        yield from _expression(item, scope, lines)
            elif isinstance(value, ast.expr):
                yield from _expression(value, scope, lines)


def _expression(root: ast.expr, scope: str, lines: list[str]) -> Iterator[_Site]:
    pending: list[ast.AST] = [root]
    while pending:
        node = pending.pop(0)
        if isinstance(node, ast.JoinedStr) or _is_log_call(node):
            continue
        if isinstance(node, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        line = getattr(node, "lineno", 0)
        if line and _SKIP in lines[line - 1]:
            continue
        yield from _node_sites(node, scope)
        pending.extend(ast.iter_child_nodes(node))


def _node_sites(node: ast.AST, scope: str) -> Iterator[_Site]:
    line = getattr(node, "lineno", 0)
    if isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            if type(op) in _COMPARE_SWAPS:
                new = _COMPARE_SWAPS[type(op)]
                text = f"{_SYMBOLS[type(op)]}  ->  {_SYMBOLS[new]}"
                yield _Site(scope, line, text, _op_setter(node.ops, index, new))
            if isinstance(op, ast.Lt | ast.LtE | ast.Gt | ast.GtE):
                text = f"{_SYMBOLS[type(op)]} bound  ->  bound + 1"
                yield _Site(scope, line, text, _bound_raiser(node.comparators, index))
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
        new_op = _BINOP_SWAPS[type(node.op)]
        text = f"{_SYMBOLS[type(node.op)]}  ->  {_SYMBOLS[new_op]}"
        yield _Site(scope, line, text, lambda: setattr(node, "op", new_op()))
    elif isinstance(node, ast.BoolOp):
        new_bool: type[ast.boolop] = ast.Or if isinstance(node.op, ast.And) else ast.And
        text = f"{_SYMBOLS[type(node.op)]}  ->  {_SYMBOLS[new_bool]}"
        yield _Site(scope, line, text, lambda: setattr(node, "op", new_bool()))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield _Site(scope, line, "drop `not`", lambda: _unwrap_not(node))
    elif isinstance(node, ast.Constant):
        yield from _constant_sites(node, scope, line)


def _constant_sites(node: ast.Constant, scope: str, line: int) -> Iterator[_Site]:
    value = node.value
    if isinstance(value, bool):
        yield _Site(scope, line, f"{value}  ->  {not value}",
                    lambda: setattr(node, "value", not value))  # fmt: skip
    elif isinstance(value, int):
        yield _Site(scope, line, f"{value}  ->  {value + 1}",
                    lambda: setattr(node, "value", value + 1))  # fmt: skip
    elif isinstance(value, str) and _CODE.fullmatch(value):
        other = "ZZ" if value != "ZZ" else "YY"
        yield _Site(scope, line, f"{value!r}  ->  {other!r}",
                    lambda: setattr(node, "value", other))  # fmt: skip


def _op_setter(ops: list[ast.cmpop], index: int, new: type[ast.cmpop]) -> Callable[[], None]:
    def apply() -> None:
        ops[index] = new()

    return apply


def _bound_raiser(comparators: list[ast.expr], index: int) -> Callable[[], None]:
    def apply() -> None:
        bound = comparators[index]
        comparators[index] = ast.copy_location(ast.BinOp(bound, ast.Add(), ast.Constant(1)), bound)

    return apply


def _unwrap_not(node: ast.UnaryOp) -> None:
    """Turn ``not x`` into ``not not x``: the truth of ``x``, the ``not`` dropped."""
    node.operand = ast.copy_location(ast.UnaryOp(op=ast.Not(), operand=node.operand), node)


def _replacer(statements: list[ast.stmt], index: int) -> Callable[[], None]:
    def apply() -> None:
        statements[index] = ast.copy_location(ast.Pass(), statements[index])

    return apply


def _swapper(statements: list[ast.stmt], index: int) -> Callable[[], None]:
    def apply() -> None:
        statements[index], statements[index + 1] = statements[index + 1], statements[index]

    return apply


def _is_guard(statement: ast.stmt) -> bool:
    """An ``if`` without ``else`` whose body ends the function or the loop's turn: a check."""
    return (
        isinstance(statement, ast.If)
        and not statement.orelse
        and isinstance(statement.body[-1], ast.Return | ast.Raise | ast.Continue)
    )


def _is_effect(value: ast.expr) -> bool:
    call = value.value if isinstance(value, ast.Await) else value
    return isinstance(call, ast.Call) and not _is_log_call(call) and not _calls_super(call)


def _calls_super(call: ast.Call) -> bool:
    """``super().x(...)``: deleting it would drop the function's ``__class__`` cell, which a
    code swap cannot do (the mutant could not be planted)."""
    target = call.func.value if isinstance(call.func, ast.Attribute) else None
    return (
        isinstance(target, ast.Call)
        and isinstance(target.func, ast.Name)
        and (target.func.id == "super")
    )


def _is_log_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in _LOG_METHODS
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in ("log", "logger", "logging", "_log")
    )


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _skipped(statement: ast.stmt, lines: list[str]) -> bool:
    return _SKIP in lines[statement.lineno - 1]


# --- SQL schemas --------------------------------------------------------------------------

_SQL_NAME = r"[A-Za-z_][\w.]*"
_SQL_SWAPS = (
    (re.compile(r"<="), "<"), (re.compile(r">="), ">"),
    (re.compile(r"(?<![<>!])<(?![=>])"), "<="), (re.compile(r"(?<![<>!-])>(?!=)"), ">="),
    (re.compile(r"(?<=\s)\+(?=\s)"), "-"), (re.compile(r"(?<=\s)-(?=\s)"), "+"),
    (re.compile(r"\bAND\b"), "OR"), (re.compile(r"\bOR\b"), "AND"),
    (re.compile(r"\bNOT\s+(?!NULL\b)|(?<=\bIS )NOT\s+"), ""),
    (re.compile(r"(?<![<>!:])=(?!=)"), "<>"),
    (re.compile(rf"(?:(?<=[<>] )|(?<=[<>]= )){_SQL_NAME}(?=\s*(THEN|$|\)))"), "\\g<0> + 1"),
)  # fmt: skip
"""(where, replacement) in a rule's line: comparisons, arithmetic, logic."""


def sql_mutants(root: Path, path: str) -> list[Mutant]:
    """Every mutant of the SQL schema at ``root / path``: each operator of each rule line
    (trigger bodies and CHECK constraints), and each ``WHEN ... RAISE`` line deleted."""
    return _numbered(mutant for mutant, _ in _sql_sites(root, path))


def mutated_sql(root: Path, mutant: Mutant) -> str:
    """The schema of ``mutant`` with that one change made."""
    if mutant.find:
        text = (root / mutant.path).read_text("utf-8")
        if mutant.find not in text:
            raise LookupError(f"{mutant.path} no longer holds {mutant.find!r}")
        return text.replace(mutant.find, mutant.replace_with, 1)
    for candidate, text in _sql_sites(root, mutant.path):
        if candidate.site == mutant.site:
            return text
    raise LookupError(f"{mutant.path} has no mutation site {mutant.site}")


def _sql_sites(root: Path, path: str) -> Iterator[tuple[Mutant, str]]:
    lines = (root / path).read_text("utf-8").splitlines(keepends=True)
    in_trigger = False
    site = 0
    for number, line in enumerate(lines):
        code = line.split("--", 1)[0].replace("USING ERRCODE = ", "USING ERRCODE _ ")
        if "CREATE TRIGGER" in code or "CREATE OR REPLACE FUNCTION" in code:
            in_trigger = True
        rule = in_trigger or "CHECK (" in code
        if code.strip().upper() == "END;" or code.strip().upper().startswith("END $$"):
            in_trigger = False
        if not rule or "CREATE " in code or _SKIP in line:
            continue
        for pattern, replacement in _SQL_SWAPS:
            for match in pattern.finditer(code):
                new = match.expand(replacement)
                changed = line[: match.start()] + new + line[match.end() :]
                what = f"{match.group().strip()}  ->  {new.strip() or '(nothing)'}"
                yield (Mutant(path, site, "", number + 1, what, line.strip()),
                       "".join([*lines[:number], changed, *lines[number + 1:]]))  # fmt: skip
                site += 1
        if re.match(r"\s*(WHEN\b.*\bRAISE\b|RAISE EXCEPTION '[a-z_]+')", code):
            yield (Mutant(path, site, "", number + 1, "delete the rule", line.strip()),
                   "".join(lines[:number] + lines[number + 1 :]))  # fmt: skip
            site += 1
