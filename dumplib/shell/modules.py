"""Modules and symbols: ``lm`` (``lmv m NAME``, ``lmf``, ``lm m PATTERN``), ``x``, ``ln``,
``.sympath``, ``.sympath+``, ``.reload``.

Module records come from :attr:`dumplib.Dump.modules`; symbol status and
version resources from the session's symbol resolver.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
from typing import Any

from dumplib.model.objects import Module
from dumplib.shell.expr import evaluate
from dumplib.shell.session import Output, Session, ShellError, module_stem
from dumplib.shell.symbols import find_symbols, nearest

__all__ = ["lm", "ln", "reload", "sympath", "sympath_add", "x"]


def _status(session: Session, m: Module) -> tuple[str, str]:
    """WinDbg's symbol status column and the symbol file, from what the resolver found;
    ``(deferred)`` until the module's symbols are used (or ``.reload /f``)."""
    if m.base not in session.loaded:
        return "(deferred)", ""
    syms = session.resolver.module_symbols(m)
    if syms.pdb is not None:
        return "(pdb symbols)", syms.pdb_path or ""
    if syms.breakpad is not None:
        return "(breakpad symbols)", syms.sym_path or ""
    if "export" in syms.sources:
        return "(export symbols)", m.name
    return "(no symbols)", ""


def _version(v: tuple[int, int, int, int] | None) -> str:
    return ".".join(str(x) for x in v) if v else ""


def _timestamp(value: int) -> str:
    when = _dt.datetime.fromtimestamp(value, _dt.timezone.utc)
    return f"{when:%a %b %d %H:%M:%S %Y} ({value:08X})"


def _verbose(session: Session, m: Module, *, load: bool) -> list[str]:
    lines = [
        f"    Image path: {m.path}",
        f"    Image name: {m.name}",
        f"    Timestamp:        {_timestamp(m.timestamp)}",
        f"    CheckSum:         {m.checksum:08X}",
        f"    ImageSize:        {m.size:08X}",
    ]
    if m.version:
        lines.append(f"    File version:     {_version(m.version)}")
    if m.product_version:
        lines.append(f"    Product version:  {_version(m.product_version)}")
    if m.pdb:
        name, guid, age = m.pdb
        lines.append(f"    PDB:              {name} {guid}{age:x}")
    # the resource strings need the image: found for a module named with "m PATTERN" or
    # already in use, never for all modules at once (that could download every PDB)
    image = session.resolver.image(m) if load or m.base in session.loaded else None
    if image is not None:
        session.loaded.add(m.base)
    vi = image.version_info if image is not None else None
    if vi is not None and vi.strings:
        lines.append("    Information from resource tables:")
        for key in ("CompanyName", "ProductName", "InternalName", "OriginalFilename",
                    "ProductVersion", "FileVersion", "FileDescription", "LegalCopyright"):
            value = vi.strings.get(key)
            if value is not None:
                shown = "".join(c if c.isprintable() else "?" for c in value)
                lines.append(f"        {key + ':':<18}{shown}")
    return lines


def lm(session: Session, args: str, opts: str = "") -> Output:
    """``lm`` (start, end, module name, symbol status), ``lmv`` (with image path, time
    stamp, checksum, versions and resource strings), ``lmf`` (full image paths) and
    ``m PATTERN`` to list only matching modules (``lmv m ntdll``, ``lm m k*``)."""
    # "lmvm ntdll" arrives as opts="vm", args="ntdll"; "lmv m ntdll" as opts="v", args="m ntdll"
    text = args.strip()
    flags = set(opts)
    pattern: str | None = None
    if text.startswith("m ") or text == "m":
        pattern = text[1:].strip() or None
    elif "m" in flags and text:
        pattern = text
    elif text.startswith("m") and text[1:2] not in ("", " "):
        pattern = text[1:]
    flags.discard("m")
    if (("m" in opts) or text.startswith("m")) and not pattern:
        raise ShellError("Syntax error: lm m needs a module pattern")
    wide = session.pointer_size == 8
    head = ("start             end                 module name" if wide
            else "start    end        module name")
    lines = [head]
    docs: list[dict[str, Any]] = []
    for m in sorted(session.dump.modules, key=lambda mod: mod.base):  # by address, as WinDbg
        stem = module_stem(m.name)
        if pattern is not None and not fnmatch.fnmatch(stem.lower(), pattern.lower()):
            continue
        row = f"{session.addr(m.base)} {session.addr(m.end)}   {stem:<10} "
        doc: dict[str, Any] = {"name": m.name, "module": stem, "base": m.base, "end": m.end,
                               "size": m.size, "path": m.path}
        if "f" in flags:
            row += m.path
        else:
            status, symfile = _status(session, m)
            row += f"{status}  {symfile}".rstrip() if symfile else status
            doc["symbols"] = status.strip("()")
            doc["symbol_file"] = symfile or None
        lines.append(row.rstrip())
        if "v" in flags:
            lines.extend(_verbose(session, m, load=pattern is not None))
            doc.update(timestamp=m.timestamp, checksum=m.checksum,
                       version=list(m.version) if m.version else None)
        docs.append(doc)
    unloaded = [u for u in session.dump.unloaded_modules
                if pattern is None or fnmatch.fnmatch(module_stem(u.name).lower(),
                                                      pattern.lower())]
    if unloaded:
        lines += ["", "Unloaded modules:"]
        for u in unloaded:
            lines.append(f"{session.addr(u.base)} {session.addr(u.end)}   {u.name}")
    return Output("\n".join(lines), {"modules": docs, "unloaded": [
        {"name": u.name, "base": u.base, "end": u.end} for u in unloaded]})


def x(session: Session, args: str) -> Output:
    """``x module!pattern``: symbols whose names match (``*`` and ``?`` wildcards)."""
    pattern = args.strip()
    if not pattern:
        raise ShellError("Syntax error: x needs module!pattern")
    found = find_symbols(session, pattern)
    lines = [f"{session.addr(s.address)} {module_stem(s.module)}!{s.name}" for s in found]
    return Output("\n".join(lines), [
        {"address": s.address, "module": s.module, "name": s.name, "size": s.size,
         "source": s.source} for s in found])


def ln(session: Session, args: str) -> Output:
    """``ln ADDRESS``: the nearest symbols before and after an address."""
    if not args.strip():
        raise ShellError("Syntax error: ln needs an address")
    address = evaluate(session, args)
    before, after = nearest(session, address)
    if before is None and after is None:
        m = session.dump.modules.find(address)
        if m is None:
            raise ShellError(f"No symbol or module at {session.addr(address)}")
        return Output(f"({session.addr(m.base)})   {module_stem(m.name)}+0x{address - m.base:x}",
                      {"address": address, "before": None, "after": None})

    def show(s: Any, at: int | None = None) -> str:
        off = "" if at is None or at == s.address else f"+0x{at - s.address:x}"
        return f"({session.addr(s.address)})   {module_stem(s.module)}!{s.name}{off}"

    parts = []
    if before is not None:
        parts.append(show(before, address))
    if after is not None:
        parts.append(show(after))
    lines = ["   |  ".join(parts)]
    if before is not None and before.address == address:
        lines += ["Exact matches:", f"    {module_stem(before.module)}!{before.name}"]
    doc = {"address": address,
           "before": None if before is None else {"name": before.name, "address": before.address},
           "after": None if after is None else {"name": after.name, "address": after.address}}
    return Output("\n".join(lines), doc)


def sympath(session: Session, args: str) -> Output:
    """``.sympath [PATH]``: show the symbol path, or replace it (``;``-separated entries)."""
    if args.strip():
        session.symbols = [p for p in args.strip().split(";") if p]
        session.forget()
    text = ";".join(session.symbols)
    return Output(f"Symbol search path is: {text or '<empty>'}\n"
                  f"Expanded Symbol search path is: {text.lower() or '<empty>'}",
                  {"symbols": list(session.symbols)})


def sympath_add(session: Session, args: str) -> Output:
    """``.sympath+ PATH``: add entries to the symbol path."""
    if not args.strip():
        raise ShellError("Syntax error: .sympath+ needs a path")
    session.symbols += [p for p in args.strip().split(";") if p]
    session.forget()
    return sympath(session, "")


def reload(session: Session, args: str) -> Output:
    """``.reload``: forget cached stacks and symbols (found again on next use);
    ``.reload /f [MODULE]``: load every module's symbols (or one's) now."""
    words = args.split()
    force = "/f" in [w.lower() for w in words]
    names = [w for w in words if not w.startswith("/")]
    session.forget()
    modules = list(session.dump.modules)
    if names:
        wanted = {n.lower() for n in names}
        modules = [m for m in modules if m.name.lower() in wanted
                   or module_stem(m.name).lower() in wanted]
        if not modules:
            raise ShellError(f"Module not found: {' '.join(names)}")
    if force:
        for m in modules:
            session.resolver.module_symbols(m)
            session.loaded.add(m.base)
    return Output("Reloading current modules\n" + "." * len(modules),
                  {"modules": len(modules), "loaded": force})
