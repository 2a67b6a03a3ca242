"""Which files changed since a git revision, for ``scripts/mutate --changed``: a file counts when
what it does changed. A file that was only moved, or whose only edits are its imports and
docstrings (a package reorganised), does not: its mutants would meet the same tests as before."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

__all__ = ["changed_since", "same_code"]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout  # fmt: skip


def _code(tree: ast.AST) -> str:
    """``tree`` without its imports and docstrings, as text."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        kept = [n for n in body if not isinstance(n, ast.Import | ast.ImportFrom)]
        first = kept[0] if kept else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            kept = kept[1:] if isinstance(first.value.value, str) else kept
        setattr(node, "body", kept or [ast.Pass()])  # noqa: B010 - any node with a body
    return ast.dump(tree)


def same_code(before: str, after: str, path: str) -> bool:
    """Whether ``before`` and ``after`` (two versions of ``path``) do the same: equal text, or
    Python equal once imports and docstrings are set aside."""
    if before == after:
        return True
    if not path.endswith(".py"):
        return False
    try:
        return _code(ast.parse(before)) == _code(ast.parse(after))
    except SyntaxError:
        return False


def changed_since(ref: str, root: Path) -> set[str]:
    """The files (paths now) whose code changed since ``ref``, following renames; new files
    count, deleted ones do not."""
    changed: set[str] = set()
    for line in _git(root, "diff", "-M", "--name-status", ref, "--").splitlines():
        status, *paths = line.split("\t")
        if status.startswith("D"):
            continue
        old, new = (paths[0], paths[-1])
        if status.startswith("A"):
            changed.add(new)
            continue
        current = root / new
        if not current.is_file():
            continue
        before = _git(root, "show", f"{ref}:{old}")
        if not same_code(before, current.read_text(encoding="utf-8"), new):
            changed.add(new)
    return changed
