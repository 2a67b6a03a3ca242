"""What the docs name in code spans exists: every path of the repository (a file, or a folder
ending in ``/``) and every dotted name of a tpesim package (a module, or a name in one). A file
moved or a function renamed without its docs fails here."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
PACKAGES = "cards|wire|switch|terminal|tpesim"
PATH = re.compile(rf"`((?:{PACKAGES}|tests|scripts|docs)/[\w./-]*(?:\.\w+|/))[`:]")
DOTTED = re.compile(rf"`((?:{PACKAGES})(?:\.[A-Za-z_]\w*)+)")
FILE_SUFFIXES = (".py", ".sql", ".yaml", ".yml", ".md", ".json", ".toml")


def _resolves(name: str) -> bool:
    """Whether ``name`` is a module, or attributes of the longest module it starts with."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        for part in parts[end:]:
            if not hasattr(found, part):
                return False
            found = getattr(found, part)
        return True
    return False


def test_every_path_the_docs_name_exists() -> None:
    named = {(doc.name, path) for doc in DOCS for path in PATH.findall(doc.read_text("utf-8"))}
    assert sorted((doc, path) for doc, path in named if not (ROOT / path).exists()) == []
    assert len(named) > 100  # the pattern still finds what the docs name


def test_every_module_and_name_the_docs_cite_exists() -> None:
    cited = {(doc.name, name) for doc in DOCS for name in DOTTED.findall(doc.read_text("utf-8"))}
    missing = sorted((doc, name) for doc, name in cited
                     if not name.endswith(FILE_SUFFIXES) and not _resolves(name))  # fmt: skip
    assert missing == []
    assert len(cited) > 25  # the patterns still find what the docs cite
