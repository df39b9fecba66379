"""Memory: ``db dw dd dq dp dps dqs dds da du``, ``s``, ``!address``.

Bytes come from :attr:`dumplib.Dump.memory`; bytes the dump did not capture
print as ``??`` as in WinDbg. Counts follow WinDbg: ``L`` then a hexadecimal
count of elements (``L10``, ``L0n16``, ``L?...``), or an end address.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from typing import Any

from dumplib.format.constants import MemoryProtect, MemoryState, MemoryType
from dumplib.shell.expr import evaluate, parse_number, split_args
from dumplib.shell.session import Output, Session, ShellError, module_stem

__all__ = ["address_info", "display", "search"]

#: Most elements one display or search prints (a typo must not print gigabytes).
MAX_ELEMENTS = 1 << 20
#: Most hits ``s`` prints.
MAX_HITS = 10_000

# element size, elements per line, default count
_LAYOUT = {"b": (1, 16, 0x80), "w": (2, 8, 0x40), "d": (4, 4, 0x20), "q": (8, 2, 0x10)}


def _parse_range(session: Session, args: str, unit: int, default: int,
                 kind: str) -> tuple[int, int]:
    """(address, element count) from ``ADDRESS [L COUNT | END]``, or where the last
    display of the same kind stopped."""
    parts = split_args(args)
    if parts:
        address = evaluate(session, parts[0])
    elif session.display.kind == kind:
        address = session.display.address
    else:
        from dumplib.shell.expr import pseudo_register

        address = pseudo_register(session, "csp", "$csp") if kind in ("ps", "q", "d") else 0
    count = default
    if len(parts) > 1:
        rest = "".join(parts[1:])
        if rest[:1] in "lL":
            text = rest[1:].lstrip("?")
            count = parse_number(text) if text else default
        else:
            end = evaluate(session, rest)
            if end <= address:
                raise ShellError(f"Range error in '{args.strip()}': the end is before the start")
            count = -(-(end - address) // unit)
    if count > MAX_ELEMENTS:
        raise ShellError(f"Range error: {count:#x} elements is more than {MAX_ELEMENTS:#x}")
    return address, count


def _read(session: Session, address: int, size: int) -> list[int | None]:
    """Bytes at ``address`` with None for each byte the dump lacks."""
    out: list[int | None] = []
    mem = session.dump.memory
    starts: list[int] | None = None
    cur, end = address, address + size
    while cur < end:
        data = mem.read_available(cur, end - cur)
        out.extend(data)
        cur += len(data)
        if cur >= end:
            break
        if starts is None:
            starts = [s for s, _ in mem.ranges]
        i = bisect.bisect_right(starts, cur)
        nxt = min(end, starts[i]) if i < len(starts) else end
        out.extend([None] * (nxt - cur))
        cur = nxt
    return out


def _value(chunk: list[int | None]) -> int | None:
    if any(b is None for b in chunk):
        return None
    return int.from_bytes(bytes(b for b in chunk if b is not None), "little")


def _fmt(value: int | None, size: int, session: Session) -> str:
    if size == 8:
        return session.addr(value) if value is not None and session.pointer_size == 8 else (
            f"{value >> 32:08x}`{value & 0xFFFFFFFF:08x}" if value is not None
            else "????????`????????")
    return "?" * (2 * size) if value is None else f"{value:0{2 * size}x}"


def _ascii(chunk: list[int | None]) -> str:
    return "".join("?" if b is None else (chr(b) if 0x20 <= b < 0x7F else ".") for b in chunk)


def _hex_lines(session: Session, address: int, data: list[int | None], size: int,
               per_line: int) -> Iterator[str]:
    step = size * per_line
    for off in range(0, len(data), step):
        chunk = data[off: off + step]
        values = [_value(chunk[i: i + size]) for i in range(0, len(chunk), size)]
        if size == 1:
            cells = ["??" if v is None else f"{v:02x}" for v in values]
            left = " ".join(cells[:8])
            right = " ".join(cells[8:])
            body = left + ("-" + right if right else "")
            body = body.ljust(3 * per_line - 1)
            yield f"{session.addr(address + off)}  {body}  {_ascii(chunk)}"
        else:
            yield (f"{session.addr(address + off)}  "
                   + " ".join(_fmt(v, size, session) for v in values))


def _strings(session: Session, address: int, limit: int, wide: bool) -> tuple[list[str], str]:
    unit = 2 if wide else 1
    raw = session.dump.memory.read_available(address, limit * unit)
    if not raw:
        return [f"{session.addr(address)}  " + "?" * 4], ""
    chars: list[str] = []
    for i in range(0, len(raw) - unit + 1, unit):
        code = int.from_bytes(raw[i: i + unit], "little")
        if code == 0:
            break
        ok = 0x20 <= code < 0x7F or (wide and code >= 0xA0 and not 0xD800 <= code < 0xE000
                                      and chr(code).isprintable())
        chars.append(chr(code) if ok else ".")
    text = "".join(chars)
    lines = []
    for n in range(0, max(len(text), 1), 48):
        piece = text[n: n + 48].replace('"', '\\"')
        lines.append(f'{session.addr(address + n * unit)}  "{piece}"')
    return lines, text


def display(session: Session, args: str, kind: str) -> Output:
    """``db dw dd dq dp``, ``dps dqs dds``, ``da du``: memory as bytes, words, double
    words, quad words, pointers, pointers with symbols, or strings.

    ``kind`` is the command's letters after ``d`` (``"b"``, ``"qs"``, ``"a"`` ...).
    """
    ps = session.pointer_size
    if kind in ("a", "u"):
        address, count = _parse_range(session, args, 1, 0x100, kind)
        lines, text = _strings(session, address, count, kind == "u")
        session.display.kind = kind
        session.display.address = address + (len(text) + 1) * (2 if kind == "u" else 1)
        return Output("\n".join(lines), {"address": address, "text": text})
    symbolic = kind.endswith("s")
    letter = kind[0] if kind[0] != "p" else ("q" if ps == 8 else "d")
    if letter not in _LAYOUT:
        raise ShellError(f"Syntax error: unknown display command 'd{kind}'")
    size, per_line, default = _LAYOUT[letter]
    if symbolic:
        per_line = 1
        default = 0x10 if size == 8 else 0x20
    address, count = _parse_range(session, args, size, default, kind)
    data = _read(session, address, count * size)
    session.display.kind, session.display.address = kind, address + count * size
    if symbolic:
        lines = []
        rows: list[dict[str, Any]] = []
        for i in range(count):
            v = _value(data[i * size: (i + 1) * size])
            sym = ""
            if v is not None and session.dump.modules.find(v) is not None:
                sym = " " + session.symbol(v)
            lines.append(f"{session.addr(address + i * size)}  {_fmt(v, size, session)}{sym}")
            rows.append({"address": address + i * size, "value": v, "symbol": sym.strip() or None})
        return Output("\n".join(lines), rows)
    lines = list(_hex_lines(session, address, data, size, per_line))
    values = [_value(data[i: i + size]) for i in range(0, len(data), size)]
    return Output("\n".join(lines), {"address": address, "size": size, "values": values})


# -- s ---------------------------------------------------------------------------------

_SEARCH_SIZE = {"b": 1, "w": 2, "d": 4, "q": 8, "a": 1, "u": 2}


def _pattern(session: Session, kind: str, text: str) -> bytes:
    text = text.strip()
    if kind in ("a", "u"):
        m = re.fullmatch(r'"(.*)"', text, re.S)
        body = m.group(1) if m else text
        return body.encode("utf-16-le" if kind == "u" else "latin-1")
    size = _SEARCH_SIZE[kind]
    out = b""
    for piece in split_args(text):
        value = evaluate(session, piece)
        out += (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    if not out:
        raise ShellError("Syntax error: s needs a pattern")
    return out


def search(session: Session, args: str) -> Output:
    """``s -b|-w|-d|-q|-a|-u RANGE PATTERN``: find a pattern in the dump's memory.

    RANGE is ``START L COUNT`` (``L?`` for large counts) or ``START END``; each hit
    prints in the matching display format (``db`` lines for bytes and strings).
    """
    m = re.match(r"\s*-([bwdqau])\s+(.*)$", args, re.S)
    kind = m.group(1) if m else "b"
    rest = m.group(2) if m else args
    parts = split_args(rest)
    if len(parts) < 3:
        raise ShellError("Syntax error: s [-b|-w|-d|-q|-a|-u] START (L COUNT | END) PATTERN")
    size = _SEARCH_SIZE[kind]
    start = evaluate(session, parts[0])
    rng = parts[1]
    if rng[:1] in "lL":
        end = start + parse_number(rng[1:].lstrip("?")) * size
    else:
        end = evaluate(session, rng)
    # the pattern: what follows the range in the original text (keeps quoted spaces)
    pat_text = rest.strip()
    for piece in parts[:2]:
        pat_text = pat_text[pat_text.index(piece) + len(piece):].lstrip()
    pattern = _pattern(session, kind, pat_text)
    lines: list[str] = []
    hits: list[int] = []
    for hit in session.dump.memory.find(pattern, start=start, end=end):
        if kind in ("d", "q", "w") and (hit - start) % size:
            continue  # WinDbg matches element-sized patterns on element boundaries
        hits.append(hit)
        if len(hits) >= MAX_HITS:
            break
    for hit in hits:
        letter = kind if kind in ("d", "q", "w") else "b"
        size_, per_line, _ = _LAYOUT[letter]
        data = _read(session, hit, size_ * per_line)
        lines.extend(_hex_lines(session, hit, data, size_, per_line))
    if len(hits) >= MAX_HITS:
        lines.append(f"(stopped after {MAX_HITS} hits)")
    return Output("\n".join(lines), {"pattern": pattern.hex(), "hits": hits})


# -- !address --------------------------------------------------------------------------


def _flags(value: int, enum_type: type[MemoryProtect | MemoryState | MemoryType]) -> str:
    names = [m.name for m in enum_type if m.value and m.name and value & m.value == m.value]
    return "|".join(names) if names else (f"{value:x}" if value else "")


def _usage(session: Session, base: int, end: int) -> tuple[str, str]:
    """WinDbg's Usage column for [base, end): Image, Stack, TEB, or unknown."""
    m = session.dump.modules.find(base)
    if m is not None:
        return "Image", f'[{m.name}; "{m.path}"]'
    pid = session.dump.process_id or 0
    for i, t in enumerate(session.threads):
        rng = t.stack_range
        if rng is not None and base < rng[0] + rng[1] and rng[0] < end:
            return "Stack", f"[~{i}; {pid:x}.{t.id:x}]"
        if t.teb and base <= t.teb < end:
            return "TEB", f"[~{i}; {pid:x}.{t.id:x}]"
    return "<unknown>", ""


def _more_info(session: Session, usage: str, base: int, end: int) -> list[str]:
    """The lines ``!address ADDRESS`` ends with: the image's path and module, or the
    command that shows the stack's thread (``~0k``)."""
    if usage == "Image":
        m = session.dump.modules.find(base)
        if m is not None:
            stem = module_stem(m.name)
            return [f"Image Path:             {m.path}", f"Module Name:            {stem}",
                    f"More info:              lmv m {stem}"]
    if usage in ("Stack", "TEB"):
        for i, t in enumerate(session.threads):
            rng = t.stack_range
            if (rng is not None and base < rng[0] + rng[1] and rng[0] < end) or (
                    t.teb and base <= t.teb < end):
                return [f"More info:              ~{i}k"]
    return []


def _short(value: int) -> str:
    return f"{value >> 32:x}`{value & 0xFFFFFFFF:08x}"


def address_info(session: Session, args: str) -> Output:
    """``!address``: every region (MemoryInfoList, else the captured ranges);
    ``!address ADDRESS``: the region holding ADDRESS, with its usage."""
    mem = session.dump.memory
    infos = mem.memory_info
    if args.strip():
        address = evaluate(session, args)
        info = mem.info(address)
        doc: dict[str, Any] = {"address": address}
        if info is not None:
            base, end = info.base_address, info.end
        else:
            rng = mem.region_of(address)
            if rng is None:
                raise ShellError(f"{session.addr(address)} is neither captured nor described "
                                 "by a MemoryInfoList entry in the dump")
            base, end = rng[0], rng[0] + rng[1]
        usage, detail = _usage(session, base, end)
        lines = [
            f"Usage:                  {usage}",
            f"Base Address:           {session.addr(base)}",
            f"End Address:            {session.addr(end)}",
            f"Region Size:            {session.addr(end - base)} ({(end - base) / 1024:8.3f} kB)",
        ]
        if info is not None:
            lines += [
                f"State:                  {info.state:08x}          "
                f"{_flags(info.state, MemoryState)}",
                f"Protect:                {info.protect:08x}          "
                f"{_flags(info.protect, MemoryProtect)}",
                f"Type:                   {info.type:08x}          {_flags(info.type, MemoryType)}",
                f"Allocation Base:        {session.addr(info.allocation_base)}",
                f"Allocation Protect:     {info.allocation_protect:08x}          "
                f"{_flags(info.allocation_protect, MemoryProtect)}",
            ]
            doc.update(state=info.state, protect=info.protect, type=info.type,
                       allocation_base=info.allocation_base)
        else:
            lines.append("(no MemoryInfoListStream: this is the captured range; state, "
                         "protection and type are not recorded)")
        lines += _more_info(session, usage, base, end)
        doc.update(usage=usage, base=base, end=end, detail=detail or None)
        return Output("\n".join(lines), doc)
    head = (f"{'BaseAddress':>18} {'EndAddress+1':>18} {'RegionSize':>18} "
            f"{'Type':<12} {'State':<12} {'Protect':<24} Usage")
    lines = [head, "-" * len(head)]
    rows: list[dict[str, Any]] = []
    if infos:
        for info in infos:
            usage, detail = ("Free", "") if info.state == MemoryState.MEM_FREE else _usage(
                session, info.base_address, info.end)
            mark = "+" if info.base_address == info.allocation_base else " "
            lines.append(
                f"{mark}{_short(info.base_address):>17} {_short(info.end):>18} "
                f"{_short(info.region_size):>18} {_flags(info.type, MemoryType):<12} "
                f"{_flags(info.state, MemoryState):<12} "
                f"{_flags(info.protect, MemoryProtect):<24} {usage} {detail}".rstrip())
            rows.append({"base": info.base_address, "size": info.region_size, "type": info.type,
                         "state": info.state, "protect": info.protect, "usage": usage})
    else:
        lines.append("(no MemoryInfoListStream: listing the captured ranges)")
        for start, size in mem.ranges:
            usage, detail = _usage(session, start, start + size)
            lines.append(f"{_short(start):>18} {_short(start + size):>18} {_short(size):>18} "
                         f"{'':<12} {'':<12} {'':<24} {usage} {detail}".rstrip())
            rows.append({"base": start, "size": size, "usage": usage})
    return Output("\n".join(lines), rows)
