"""MkDocs hooks: generated pages and the documentation checks of the strict build.

Pages made from the repository at build time (nothing generated is committed):

- ``index.md``: README.md (image links made relative to ``docs/``);
- ``cli.md``: the help of ``dumplib`` and of every subcommand, from
  :func:`dumplib.cli.build_parser`, so it cannot drift from the code;
- ``signatures.md``: the signature format (the docstring of
  :mod:`dumplib.analysis.signatures`) and the built-in signatures;
- ``security.md``: SECURITY.md.

Checks (each problem is a warning, which ``strict: true`` turns into a failed
build): every public module, class, function and method of dumplib has a
docstring, and every Sphinx-style cross-reference in a docstring
(``:func:`~dumplib.x.y```, ``:class:`Report```...) names something that exists.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("mkdocs.plugins.dumplib")

_ROLE = re.compile(r":(?:py:)?(func|class|meth|mod|data|attr|exc|obj):`~?([A-Za-z_][\w.]*)`")
# Modules that are implementation detail (documented, but not part of the reference).
_SKIP_MODULES = ("dumplib.cli", "dumplib.__main__")


# -- generated pages --------------------------------------------------------------------


def _readme() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.replace("](docs/", "](")


@contextlib.contextmanager
def _columns(n: int) -> Iterator[None]:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(n)
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _cli() -> str:
    sys.path.insert(0, str(ROOT))
    from dumplib.cli import build_parser

    with _columns(88):
        parser = build_parser()
        out = ["# Command line", "",
               "Generated from the argument parsers (`dumplib.cli.build_parser`).", "",
               "```text", parser.format_help().rstrip(), "```", ""]
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for name, p in sub.choices.items():
            out += [f"## dumplib {name}", "", "```text", p.format_help().rstrip(), "```", ""]
    return "\n".join(out)


def _signatures() -> str:
    sys.path.insert(0, str(ROOT))
    mod = importlib.import_module("dumplib.analysis.signatures")
    doc = (mod.__doc__ or "").strip()
    sigs = mod.load_signatures()
    out = ["# Signature format", "", doc, "", "## Built-in signatures", "",
           "| id | title | confidence |", "|---|---|---|"]
    for s in sigs:
        title = s.title.replace("|", "\\|")
        out.append(f"| `{s.id}` | {title} | {s.confidence} |")
    example = ROOT / "dumplib" / "signatures" / "stack-overflow.toml"
    out += ["", f"## Example: `{example.name}`", "", "```toml",
            example.read_text(encoding="utf-8").rstrip(), "```", ""]
    return "\n".join(out)


def _security() -> str:
    return (ROOT / "SECURITY.md").read_text(encoding="utf-8")


def on_files(files: Files, config: Any) -> Files:
    """Add the pages generated from the repository."""
    for name, make in (("index.md", _readme), ("cli.md", _cli),
                       ("signatures.md", _signatures), ("security.md", _security)):
        files.append(File.generated(config, name, content=make()))
    return files


# -- checks -----------------------------------------------------------------------------


def _public(name: str) -> bool:
    return not name.startswith("_")


def _walk_modules(module: Any) -> Iterator[Any]:
    yield module
    for name, sub in module.modules.items():
        if _public(name) and not sub.path.startswith(_SKIP_MODULES):
            yield from _walk_modules(sub)


def _public_members(module: Any) -> list[Any]:
    """Objects a module defines and makes public (``__all__`` when it has one)."""
    exports = module.exports
    names = [str(e) for e in exports] if exports is not None else [
        n for n in module.members if _public(n)]
    out = []
    for n in names:
        member = module.members.get(n)
        if member is None or member.is_alias or member.is_module:
            continue  # re-exports are checked where they are defined
        out.append(member)
    return out


def _external(target: str) -> bool:
    head = target.split(".")[0]
    if head == "dumplib":
        return False
    if head in dir(__import__("builtins")):
        return True
    try:
        return importlib.util.find_spec(head) is not None
    except (ImportError, ValueError):
        return False


def _resolves(pkg: Any, target: str, scopes: list[Any]) -> bool:
    if _external(target):
        return True
    paths = [target] if target.startswith("dumplib.") or target == "dumplib" else [
        f"{s.path}.{target}" for s in scopes]
    for path in paths:
        rel = path.removeprefix("dumplib").lstrip(".")
        try:
            obj = pkg[rel] if rel else pkg
            if obj.is_alias:
                obj.final_target  # noqa: B018 - resolving raises when it dangles
        except Exception:
            continue
        return True
    return False


def _scopes(obj: Any) -> list[Any]:
    """Where a relative reference in ``obj``'s docstring may be found (innermost first)."""
    out = []
    cur = obj
    while cur is not None:
        if cur.is_module or cur.is_class:
            out.append(cur)
        cur = cur.parent
    return out


def check_docs(root: Path = ROOT) -> list[str]:
    """Public names without a docstring and docstring references that do not resolve."""
    import griffe

    pkg = griffe.load("dumplib", search_paths=[str(root)], resolve_aliases=False,
                      try_relative_path=False)
    problems: list[str] = []

    def refs(obj: Any) -> None:
        if obj.docstring is None:
            return
        for role, target in _ROLE.findall(obj.docstring.value):
            if not _resolves(pkg, target, _scopes(obj)):
                problems.append(f"{obj.path}: broken reference :{role}:`{target}`")

    for module in _walk_modules(pkg):
        if module.docstring is None:
            problems.append(f"{module.path}: public module without a docstring")
        refs(module)
        for obj in _public_members(module):
            if not (obj.is_class or obj.is_function):
                continue
            if obj.docstring is None:
                problems.append(f"{obj.path}: public {obj.kind.value} without a docstring")
            refs(obj)
            if not obj.is_class:
                continue
            for name, member in obj.members.items():
                if not _public(name) or member.is_alias or not (
                        member.is_function or member.is_attribute):
                    continue
                if member.is_function and member.docstring is None and not any(
                        _inherited_doc(base, name, pkg) for base in obj.resolved_bases):
                    problems.append(f"{member.path}: public method without a docstring")
                refs(member)
    return problems


def _inherited_doc(base: Any, name: str, pkg: Any) -> bool:
    try:
        member = base.all_members.get(name)
    except Exception:
        return False
    return member is not None and member.docstring is not None


def on_pre_build(config: Any) -> None:
    """Warn (an error under ``strict``) for each documentation problem."""
    for problem in check_docs():
        log.warning(problem)


_ROLE_HTML = re.compile(
    r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj):<code>(~?)([^<]*)</code>")


def _role_to_code(m: re.Match[str]) -> str:
    target = m.group(2)
    return f"<code>{target.rsplit('.', 1)[-1] if m.group(1) else target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Show the docstrings' Sphinx roles (``:class:`~a.B```) as code (``B``), not as markup."""
    return _ROLE_HTML.sub(_role_to_code, html)
