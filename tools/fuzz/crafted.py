"""Crafted shapes for fuzzing and for the linear-in-the-input tests (issue 14).

Random byte flips rarely make the inputs that cost the most: many threads
aliasing one stack, an export directory in gigabytes of zero fill, archives of
many odd members. The builders here make those shapes, valid but hostile, at
the byte offsets of Microsoft's ``minidumpapiset.h`` (MINIDUMP_HEADER,
MINIDUMP_DIRECTORY, MINIDUMP_THREAD: 48 bytes), the PE/COFF specification and
APPNOTE.TXT; the fuzz targets at the end let atheris choose their parameters.
Each target checks the linear rule itself (frames within the per-dump budget,
only DumpError escapes) and raises AssertionError, a crash to the fuzzer,
when it is broken.
"""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
from collections.abc import Callable

import dumplib
from dumplib.builder import REGISTERS, DumpBuilder

__all__ = ["CRAFTED", "MODULE_BASE", "STACK_BASE", "aliased_stack_dump", "patch_zip"]

MODULE_BASE = 0x1000_0000
STACK_BASE = 0x20_0000
_THREAD_LIST = 3
_THREAD = struct.Struct("<IIIIQQIIII")  # MINIDUMP_THREAD, 48 bytes


def _directory(data: bytes) -> tuple[int, int]:
    count, rva = struct.unpack_from("<II", data, 8)
    return count, rva


def aliased_stack_dump(threads: int, *, stack_words: int = 8192, distinct: int = 1,
                       outside: bool = False, words: list[int] | None = None) -> bytes:
    """A dump whose ``threads`` threads all point at one captured stack.

    The stack holds ``stack_words`` distinct addresses inside a module whose
    code is not in the dump (so each counts as a return address by scanning):
    one walk finds about one frame per word.

    Args:
        threads: entries of the thread list (48 bytes each, sharing stack and context).
        stack_words: 8-byte words of the shared stack.
        distinct: how many different CONTEXT records the threads cycle through
            (each with its rsp a little further up the stack), so that some
            walks differ; 1 makes every thread identical.
        outside: put every rsp outside the stack, forcing the recovery scan.
        words: the stack's words (default: ``stack_words`` distinct module addresses).
    """
    b = DumpBuilder("amd64", time_date_stamp=0x6000_0000)
    b.add_module(r"C:\crafted\alias.dll", base=MODULE_BASE, size=0x100_0000,
                 time_date_stamp=0x6000_0000)
    if words is None:
        words = [MODULE_BASE + 0x1000 + 16 * i for i in range(stack_words)]
    stack_words = max(1, len(words))
    stack = struct.pack(f"<{len(words)}Q", *words) or bytes(8)
    b.add_thread(1, context={"rip": MODULE_BASE + 0x10, "rsp": STACK_BASE}, stack=stack,
                 stack_start=STACK_BASE)
    data = bytearray(b.to_bytes())
    count, dir_rva = _directory(data)
    for i in range(count):
        stype, _size, rva = struct.unpack_from("<III", data, dir_rva + 12 * i)
        if stype == _THREAD_LIST:
            entry_at = dir_rva + 12 * i
            first = _THREAD.unpack_from(data, rva + 4)
            break
    else:  # pragma: no cover - the builder always writes a thread list
        raise AssertionError("no thread list")
    ctx_size, ctx_rva = first[8], first[9]
    context = bytes(data[ctx_rva:ctx_rva + ctx_size])
    rsp_at = REGISTERS["amd64"]["rsp"][0]
    contexts = []
    for k in range(distinct):
        ctx = bytearray(context)
        sp = 0x1000 + 8 * k if outside else STACK_BASE + 8 * (k % stack_words)
        struct.pack_into("<Q", ctx, rsp_at, sp)
        contexts.append(len(data))
        data += ctx
    table = bytearray(struct.pack("<I", threads))
    for t in range(threads):
        fields = list(first)
        fields[0] = 0x100 + t
        fields[9] = contexts[t % distinct]
        table += _THREAD.pack(*fields)
    struct.pack_into("<III", data, entry_at, _THREAD_LIST, len(table), len(data))
    data += table
    return bytes(data)


def patch_zip(blob: bytes, *, flags: int | None = None, method: int | None = None) -> bytes:
    """Set the general-purpose flags and/or method of every member (local and central headers)."""
    b = bytearray(blob)
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = b.find(sig)
        while at >= 0:
            if flags is not None:
                b[at + off: at + off + 2] = flags.to_bytes(2, "little")
            if method is not None:
                b[at + off + 2: at + off + 4] = method.to_bytes(2, "little")
            at = b.find(sig, at + 4)
    return bytes(b)


# -- atheris targets ------------------------------------------------------------------


def _u(data: bytes, at: int, n: int) -> int:
    return int.from_bytes(data[at:at + n].ljust(n, b"\0"), "little")


def fuzz_aliased(data: bytes) -> None:
    """Threads aliasing one stack; the fuzzer picks counts, contexts and stack words."""
    warnings.simplefilter("ignore")
    threads = 1 + _u(data, 0, 2) % 600
    distinct = 1 + _u(data, 2, 1) % 16
    outside = bool(_u(data, 3, 1) & 1)
    raw = data[4:4 + 8 * 256]
    words = [w | (0x1000_0000 if _u(data, 3, 1) & 2 else 0)
             for (w,) in struct.iter_unpack("<Q", raw[: len(raw) // 8 * 8])]
    dump_bytes = aliased_stack_dump(threads, distinct=min(distinct, threads), outside=outside,
                                    words=words or None, stack_words=64)
    try:
        with dumplib.open(dump_bytes) as d:
            stacks = d.stacks()
            walker = d.stack_walker(None)
            # frames held in memory: aliased threads share one tuple, counted once
            frames = sum(len(f) for f in {id(s.frames): s.frames for s in stacks}.values())
            assert frames <= walker.budget.initial_frames + len(stacks), (frames, len(stacks))
    except dumplib.DumpError:
        return


def fuzz_zerofill(data: bytes) -> None:
    """A PE whose sections' virtual sizes, directories and export counts the fuzzer picks."""
    from dumplib.pe import PeImage
    from tests.test_pe_synthetic import RDATA, TEXT, Sec, Spec, build_pe

    vsize = 0x1000 + _u(data, 0, 4) % 0xF000_0000
    dirs = {i: (_u(data, 4 + 8 * i, 4) % (vsize + 0x3000), _u(data, 8 + 8 * i, 4))
            for i in range(3)}
    payload = data[28:28 + 0x4000]
    try:
        image = build_pe(Spec(sections=[Sec(b".text", TEXT, b"\xcc" * 0x200, 0x60000020),
                                        Sec(b".rdata", RDATA, payload or b"\0", vsize=vsize)],
                              dirs=dirs))
    except (struct.error, ValueError, OverflowError):
        return
    try:
        img = PeImage.from_file(image)
        exports = img.exports
        if exports is not None:
            exports.nearest(0x1000)
            len({id(e.name) for e in exports})
        _ = (img.codeview, img.version_info, len(img.runtime_functions))
    except dumplib.DumpError:
        return


def fuzz_archive(data: bytes) -> None:
    """Archives of many odd members: counts, names, methods and flags from the fuzzer."""
    import os
    import tempfile

    from dumplib.decompress import expand, sniff
    from dumplib.triage.discover import find_dumps, load_dump

    warnings.simplefilter("ignore")
    members = 1 + _u(data, 0, 2) % 2000
    body = data[4:]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for i in range(members):
            z.writestr(f"m{i}.dmp", b"MDMP" + body[:64] if i % 7 == 0 else body[:16])
    blob = out.getvalue()
    if _u(data, 2, 1) & 1:
        blob = patch_zip(blob, flags=_u(data, 3, 1) & 0x9)
    if _u(data, 2, 1) & 2:
        blob = patch_zip(blob, method=_u(data, 3, 1))
    kind = "gzip" if _u(data, 2, 1) & 4 else "zip"
    if kind == "gzip":
        import gzip

        blob = gzip.compress(body)
    fd, path = tempfile.mkstemp(suffix=".zip" if kind == "zip" else ".dmp.gz")
    try:
        os.write(fd, blob)
        os.close(fd)
        assert sniff(blob[:8]) == kind
        try:
            for ref in find_dumps([path]):
                with load_dump(ref, in_memory_limit=1 << 16):
                    pass
        except dumplib.DumpError:
            pass
        try:
            expand(path, kind).close()
        except dumplib.DumpError:
            pass
    finally:
        os.unlink(path)


#: Crafted-shape targets, merged into tools.fuzz.targets.TARGETS.
CRAFTED: dict[str, Callable[[bytes], None]] = {
    "aliased": fuzz_aliased,
    "zerofill": fuzz_zerofill,
    "archive": fuzz_archive,
}
