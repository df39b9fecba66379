"""Driver images for kernel dumps: small PE32+ files in memory layout.

Each image has a ``.text`` section with the given functions (each starts with a real
``sub rsp, N`` prologue), an export table naming them, ``.pdata``/``.xdata`` describing
the prologues (UWOP_ALLOC_SMALL / UWOP_ALLOC_LARGE, optionally UWOP_PUSH_NONVOL rbx), a
CodeView (RSDS) debug record and a version resource with CompanyName, FileDescription
and FileVersion. Layouts follow Microsoft's PE/COFF specification; sections are aligned
to pages and RVA == offset, as an image mapped by the loader is.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field

__all__ = ["DriverImage", "Function", "build_driver_image"]

_PAGE = 0x1000
_FUNC_SPAN = 0x100


@dataclass(frozen=True)
class Function:
    """A function of a built image.

    Attributes:
        name: its exported name.
        frame: bytes the prologue allocates (``sub rsp, frame``; a multiple of 8, odd
            multiple of 8 keeps the stack 16-byte aligned after a call).
        push_rbx: the prologue pushes rbx first (UWOP_PUSH_NONVOL).
    """

    name: str
    frame: int = 0x28
    push_rbx: bool = False

    @property
    def prologue_size(self) -> int:
        """Bytes of prologue code."""
        return (1 if self.push_rbx else 0) + (4 if self.frame <= 0x80 else 7)


@dataclass
class DriverImage:
    """A built image and where its functions are.

    Attributes:
        data: the image bytes (memory layout, ``size`` long).
        functions: function name -> RVA of its first instruction.
        specs: function name -> its :class:`Function`.
    """

    data: bytearray
    functions: dict[str, int] = field(default_factory=dict)
    specs: dict[str, Function] = field(default_factory=dict)

    def place_call(self, caller: str, offset: int, callee_va: int, base: int) -> int:
        """Write ``call rel32`` to ``callee_va`` ending at ``caller+offset``; return that RVA."""
        rva = self.functions[caller] + offset
        site = rva - 5
        rel = (callee_va - (base + rva)) & 0xFFFFFFFF
        self.data[site : site + 5] = b"\xE8" + struct.pack("<I", rel)
        return rva


def _utf16z(text: str) -> bytes:
    return text.encode("utf-16-le") + b"\0\0"


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def _vs_block(key: str, value: bytes, children: list[bytes], *, text: bool = False) -> bytes:
    head_len = 6 + len(_utf16z(key))
    head_pad = -head_len % 4
    body = value + b"\0" * (-len(value) % 4) + b"".join(children)
    total = head_len + head_pad + body.__len__()
    value_len = len(value) // 2 if text else len(value)
    head = struct.pack("<HHH", total, value_len, 1 if text else 0) + _utf16z(key)
    return _pad4(head + b"\0" * head_pad + body)


def version_resource(company: str, description: str, version: tuple[int, int, int, int],
                     product: str) -> bytes:
    """A VS_VERSIONINFO block (StringFileInfo 040904b0 + VarFileInfo)."""
    ms, ls = version[0] << 16 | version[1], version[2] << 16 | version[3]
    fixed = struct.pack("<13I", 0xFEEF04BD, 0x10000, ms, ls, ms, ls, 0x3F, 0, 0x40004, 3, 6, 0, 0)
    vtext = ".".join(str(v) for v in version)
    strings = [
        _vs_block(k, _utf16z(v), [], text=True)
        for k, v in (("CompanyName", company), ("FileDescription", description),
                     ("FileVersion", vtext), ("ProductName", product))
    ]
    table = _vs_block("040904b0", b"", strings, text=True)
    sfi = _vs_block("StringFileInfo", b"", [table], text=True)
    var = _vs_block("Translation", struct.pack("<HH", 0x409, 0x4B0), [])
    vfi = _vs_block("VarFileInfo", b"", [var], text=True)
    return _vs_block("VS_VERSION_INFO", fixed, [sfi, vfi])


def _unwind_info(fn: Function) -> bytes:
    codes: list[bytes] = []
    end = fn.prologue_size
    if fn.frame <= 0x80:
        codes.append(struct.pack("<BB", end, 2 | ((fn.frame // 8 - 1) << 4)))
    else:
        codes.append(struct.pack("<BBH", end, 1, fn.frame // 8))
    if fn.push_rbx:
        codes.append(struct.pack("<BB", 1, 0 | (3 << 4)))
    raw = b"".join(codes)
    count = len(raw) // 2
    raw += b"\0" * (-len(raw) % 4)
    return struct.pack("<BBBB", 1, fn.prologue_size, count, 0) + raw


def _prologue(fn: Function) -> bytes:
    code = b"\x53" if fn.push_rbx else b""
    if fn.frame <= 0x80:
        return code + b"\x48\x83\xEC" + bytes([fn.frame])
    return code + b"\x48\x81\xEC" + struct.pack("<I", fn.frame)


def build_driver_image(
    name: str, base: int, functions: list[Function], *, timestamp: int = 0x5F5E1000,
    company: str = "Microsoft Corporation", description: str = "", product: str = "",
    version: tuple[int, int, int, int] = (10, 0, 19041, 1), pdb_guid: uuid.UUID | None = None,
    pdb_age: int = 1, with_pdata: bool = True, imports: dict[str, list[str]] | None = None,
) -> DriverImage:
    """Build a PE32+ driver image of ``functions`` for loading at ``base``."""
    text_size = max(_PAGE, -(-(len(functions) * _FUNC_SPAN) // _PAGE) * _PAGE)
    text_rva = _PAGE
    rdata_rva = text_rva + text_size
    stem = name.rsplit(".", 1)[0]
    # -- .rdata: exports, debug directory, CodeView, unwind info, .pdata, resources
    rdata = bytearray()

    def put(blob: bytes, align: int = 4) -> int:
        rdata.extend(b"\0" * (-len(rdata) % align))
        at = rdata_rva + len(rdata)
        rdata.extend(blob)
        return at

    func_rvas = [text_rva + i * _FUNC_SPAN for i in range(len(functions))]
    order = sorted(range(len(functions)), key=lambda i: functions[i].name)
    name_rvas = {i: put(functions[i].name.encode() + b"\0", 1) for i in order}
    dll_name = put(name.encode() + b"\0", 1)
    eat = put(b"".join(struct.pack("<I", r) for r in func_rvas))
    ent = put(b"".join(struct.pack("<I", name_rvas[i]) for i in order))
    eot = put(b"".join(struct.pack("<H", i) for i in order))
    export_dir = put(struct.pack("<IIHHIIIIIII", 0, timestamp, 0, 0, dll_name, 1,
                                 len(functions), len(functions), eat, ent, eot))
    guid = pdb_guid or uuid.UUID(int=hash(name) & ((1 << 128) - 1))
    cv = b"RSDS" + guid.bytes_le + struct.pack("<I", pdb_age) + f"{stem}.pdb".encode() + b"\0"
    cv_rva = put(cv)
    debug_dir = put(struct.pack("<IIHHIIII", 0, timestamp, 0, 0, 2, len(cv), cv_rva, cv_rva))
    import_rva = import_size = 0
    if imports:
        hint_names = {(dll, fn): put(struct.pack("<H", 0) + fn.encode() + b"\0", 2)
                      for dll, fns in imports.items() for fn in fns}
        dll_names = {dll: put(dll.encode() + b"\0", 1) for dll in imports}
        tables = {dll: put(b"".join(struct.pack("<Q", hint_names[dll, fn]) for fn in fns)
                           + bytes(8), 8) for dll, fns in imports.items()}
        iats = {dll: put(b"".join(struct.pack("<Q", hint_names[dll, fn]) for fn in fns)
                         + bytes(8), 8) for dll, fns in imports.items()}
        desc = b"".join(struct.pack("<5I", tables[d], 0, 0, dll_names[d], iats[d]) for d in imports)
        import_rva, import_size = put(desc + bytes(20)), len(desc) + 20
    pdata_rva = pdata_size = 0
    if with_pdata:
        unwinds = [put(_unwind_info(fn)) for fn in functions]
        pdata = b"".join(
            struct.pack("<III", r, r + _FUNC_SPAN - 0x10, u)
            for r, u in zip(func_rvas, unwinds, strict=True)
        )
        pdata_rva, pdata_size = put(pdata), len(pdata)
    ver = version_resource(company, description or stem, version, product or stem)
    rsrc_base = rdata_rva + len(rdata) + (-len(rdata) % 16)
    rsrc = bytearray()
    rsrc += struct.pack("<IIHHHH", 0, 0, 0, 0, 0, 1) + struct.pack("<II", 16, 0x80000000 | 0x18)
    rsrc += struct.pack("<IIHHHH", 0, 0, 0, 0, 0, 1) + struct.pack("<II", 1, 0x80000000 | 0x30)
    rsrc += struct.pack("<IIHHHH", 0, 0, 0, 0, 0, 1) + struct.pack("<II", 0x409, 0x48)
    rsrc += struct.pack("<IIII", rsrc_base + 0x58, len(ver), 0, 0)
    rsrc += b"\0" * (0x58 - len(rsrc)) + ver
    rsrc_rva = put(bytes(rsrc), 16)
    assert rsrc_rva == rsrc_base
    rdata_size = -(-len(rdata) // _PAGE) * _PAGE
    size = rdata_rva + rdata_size
    img = bytearray(size)
    # -- headers
    img[0:2] = b"MZ"
    struct.pack_into("<I", img, 0x3C, 0x80)
    img[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", img, 0x84, 0x8664, 2, timestamp, 0, 0, 0xF0, 0x22)
    opt = 0x98
    struct.pack_into("<HBBIIIII", img, opt, 0x20B, 14, 0, text_size, rdata_size, 0,
                     func_rvas[0] if func_rvas else 0, text_rva)
    struct.pack_into("<QIIHHHHHHIIIIHH", img, opt + 24, base, _PAGE, _PAGE, 10, 0, 10, 0, 10, 0,
                     0, size, _PAGE, 0, 1, 0x160)
    struct.pack_into("<QQQQII", img, opt + 72, 0x40000, 0x1000, 0x100000, 0x1000, 0, 16)
    dirs = {0: (export_dir, 40), 1: (import_rva, import_size), 2: (rsrc_rva, len(rsrc)),
            3: (pdata_rva, pdata_size),
            6: (debug_dir, 28)}
    for idx, (rva, sz) in dirs.items():
        struct.pack_into("<II", img, opt + 112 + 8 * idx, rva, sz)
    sec = opt + 0xF0
    struct.pack_into("<8sIIIIIIHHI", img, sec, b".text", text_size, text_rva, text_size,
                     text_rva, 0, 0, 0, 0, 0x60000020)
    struct.pack_into("<8sIIIIIIHHI", img, sec + 40, b".rdata", rdata_size, rdata_rva,
                     rdata_size, rdata_rva, 0, 0, 0, 0, 0x40000040)
    # -- code: prologue, then int3 filler (call sites are written by place_call)
    out = DriverImage(img)
    for fn, rva in zip(functions, func_rvas, strict=True):
        body = _prologue(fn)
        fill = b"\x90" * (_FUNC_SPAN - 0x10 - len(body) - 1)
        img[rva : rva + _FUNC_SPAN - 0x10] = body + fill + b"\xC3"
        out.functions[fn.name] = rva
        out.specs[fn.name] = fn
    img[rdata_rva : rdata_rva + len(rdata)] = rdata
    return out
