"""Symbol tables for the shell: every name a module's symbols give, and name lookups.

``x``, ``ln``, ``module!symbol`` in expressions and symbol completion all read
the same table: PDB procedures and publics, breakpad FUNC/PUBLIC records and
the image's exports, as the symbol resolver found them for the module.
"""

from __future__ import annotations

import bisect
import fnmatch
from dataclasses import dataclass

from dumplib.model.objects import Module
from dumplib.shell.session import Session, module_stem

__all__ = ["ModuleSymbol", "find_symbols", "module_table", "nearest", "resolve_name"]


@dataclass(frozen=True, slots=True)
class ModuleSymbol:
    """One named address of a module.

    Attributes:
        module: the module's file name.
        name: the symbol's name.
        address: its virtual address.
        size: its size in bytes when the source says (PDB procedures, breakpad FUNC).
        source: ``"pdb"``, ``"breakpad"`` or ``"export"``.
    """

    module: str
    name: str
    address: int
    size: int | None
    source: str


def module_table(session: Session, module: Module) -> list[ModuleSymbol]:
    """Every symbol of ``module`` sorted by address (one entry per address and name).

    Built once per session and symbol path.
    """
    tables: dict[int, list[ModuleSymbol]] = session.cache.setdefault("symbol_tables", {})
    found = tables.get(module.base)
    if found is not None:
        return found
    resolver = session.resolver
    session.loaded.add(module.base)
    syms = resolver.module_symbols(module)
    out: dict[tuple[int, str], ModuleSymbol] = {}

    def add(rva: int, name: str | None, size: int | None, source: str) -> None:
        if name and (rva, name) not in out:
            out[(rva, name)] = ModuleSymbol(module.name, name, module.base + rva, size, source)

    if syms.pdb is not None:
        for f in syms.pdb.functions:
            add(f.rva, f.name, f.size, "pdb")
        for p in syms.pdb.publics:
            add(p.rva, p.name, None, "pdb")
    if syms.breakpad is not None:
        for bf in syms.breakpad.functions:
            add(bf.address, bf.name, bf.size, "breakpad")
        for bp in syms.breakpad.publics:
            add(bp.address, bp.name, None, "breakpad")
    image = resolver.image(module)
    exports = image.exports if image is not None else None
    if exports is not None:
        for e in exports:
            if not e.is_forwarder:
                add(e.rva, e.name, None, "export")
    table = sorted(out.values(), key=lambda s: (s.address, s.name))
    tables[module.base] = table
    return table


def find_symbols(session: Session, pattern: str) -> list[ModuleSymbol]:
    """Symbols matching ``module!pattern`` (``*`` and ``?`` wildcards in both parts,
    any case), in module then address order."""
    mod_pat, _, sym_pat = pattern.rpartition("!")
    if not mod_pat:
        mod_pat = "*"
    out: list[ModuleSymbol] = []
    for m in session.dump.modules:
        if not (fnmatch.fnmatch(module_stem(m.name).lower(), mod_pat.lower())
                or fnmatch.fnmatch(m.name.lower(), mod_pat.lower())):
            continue
        out.extend(s for s in module_table(session, m)
                   if fnmatch.fnmatchcase(s.name.lower(), sym_pat.lower()))
    return out


def resolve_name(session: Session, name: str) -> int | None:
    """The address of ``module!symbol``, or a module's base for a bare ``module``; None
    when nothing has that name."""
    if "!" not in name:
        m = session.module_by_name(name)
        return m.base if m is not None else None
    mod_name, _, sym = name.partition("!")
    m = session.module_by_name(mod_name)
    if m is None:
        return None
    for s in module_table(session, m):
        if s.name == sym:
            return s.address
    low = sym.lower()
    for s in module_table(session, m):
        if s.name.lower() == low:
            return s.address
    return None


def nearest(session: Session, address: int) -> tuple[ModuleSymbol | None, ModuleSymbol | None]:
    """The symbols at or before ``address`` and after it in its module (``ln``)."""
    m = session.dump.modules.find(address)
    if m is None:
        return None, None
    table = module_table(session, m)
    starts = [s.address for s in table]
    i = bisect.bisect_right(starts, address)
    before = table[i - 1] if i else None
    after = table[i] if i < len(table) else None
    return before, after
