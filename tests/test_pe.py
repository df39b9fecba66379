"""PE reader checked against independent truth on real images.

Truth comes from (a) the breakpad ``.sym`` files that dump_syms wrote from the
same builds as the corpus executables (MODULE id = PDB GUID + age, INFO
CODE_ID = timestamp + SizeOfImage, STACK CFI frame sizes derived from the x64
unwind info) and (b) ``pefile``, a second PE parser, over the corpus images and
the Windows launchers shipped inside pip and setuptools, and wine's x64 system
DLLs from the wine fixtures (real export tables with forwarders). The memory layout is
checked against the file layout with pefile's own memory-mapped image.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pefile  # type: ignore[import-untyped, unused-ignore]
import pytest

from dumplib._exc import MemoryNotInDump
from dumplib.pe import (
    Machine,
    PeImage,
    Register,
    UnwindCode,
    UnwindInfo,
    UnwindOp,
    image_key,
    pdb_key,
)

SYMBOLIC = Path(__file__).resolve().parent.parent / "fixtures" / "external" / "symbolic" / "windows"
CRASH_X86 = SYMBOLIC / "crash.exe"
CRASH_X64 = SYMBOLIC / "CrashWithException.exe"
SYM = {CRASH_X86: SYMBOLIC / "crash.sym", CRASH_X64: SYMBOLIC / "CrashWithException.pdb.sym"}



def _package_dir(name: str) -> Path:
    """Where an installed package lives, found without importing it."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, name
    return Path(spec.origin).parent


_DISTLIB = _package_dir("pip") / "_vendor" / "distlib"
_SETUPTOOLS = _package_dir("setuptools")
LAUNCHERS = sorted(
    [*_DISTLIB.glob("[tw]*.exe"), *_SETUPTOOLS.glob("cli*.exe"), *_SETUPTOOLS.glob("gui*.exe")]
)
_WINE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "wine" / "system"
WINE = sorted(_WINE_DIR.glob("*.dll"))
ALL_IMAGES = [CRASH_X86, CRASH_X64, *LAUNCHERS, *WINE]


@functools.cache
def _ref(path: Path) -> Any:
    """pefile's full parse of ``path`` (cached: the wine DLLs take a while)."""
    return pefile.PE(str(path))


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_launchers_found() -> None:
    # the launcher images are part of the venv's pip and setuptools; the tests below need them
    assert len(LAUNCHERS) >= 8
    assert [p.name for p in WINE] == [
        "kernel32.dll", "kernelbase.dll", "ntdll.dll", "sechost.dll", "ws2_32.dll"]
    assert any(pefile.PE(str(p), fast_load=True).FILE_HEADER.Machine == 0x8664 for p in LAUNCHERS)


# ---------------------------------------------------------------- breakpad .sym as truth


def _sym_records(path: Path) -> tuple[str, str, str]:
    module = code_id = ""
    for line in path.read_text().splitlines()[:5]:
        if line.startswith("MODULE "):
            module = line
        elif line.startswith("INFO CODE_ID "):
            code_id = line.split()[2]
    _, _os, _arch, debug_id, name = module.split(" ", 4)
    return debug_id, name, code_id


@pytest.mark.parametrize("path", [CRASH_X86, CRASH_X64], ids=_ids([CRASH_X86, CRASH_X64]))
def test_codeview_and_keys_match_dump_syms(path: Path) -> None:
    debug_id, pdb_name, code_id = _sym_records(SYM[path])
    with PeImage.from_file(path) as pe:
        cv = pe.codeview
        assert cv is not None
        assert cv.is_pdb70
        assert cv.basename == pdb_name
        assert pe.pdb_key == debug_id
        assert cv.key == debug_id
        assert pdb_key(cv.identifier, cv.age) == debug_id
        assert re.fullmatch(r"[0-9A-F]{32}", cv.identifier)
        assert pe.image_key == code_id
        assert image_key(pe.timestamp, pe.size_of_image) == code_id
        # the tuple shape promised to Module.pdb
        name, ident, age = cv
        assert (ident + f"{age:x}") == debug_id and name.endswith(pdb_name)


def _cfi(path: Path) -> dict[int, tuple[int, int]]:
    """STACK CFI INIT start -> (size, cfa offset from rsp) from the .sym text."""
    out: dict[int, tuple[int, int]] = {}
    sizes: dict[int, int] = {}
    for line in path.read_text().splitlines():
        m = re.fullmatch(r"STACK CFI INIT ([0-9a-f]+) ([0-9a-f]+) \.cfa: \$rsp .*", line)
        if m:
            sizes[int(m[1], 16)] = int(m[2], 16)
            continue
        m = re.fullmatch(r"STACK CFI ([0-9a-f]+) \.cfa: \$rsp (\d+) \+", line)
        if m:
            start = int(m[1], 16)
            out[start] = (sizes[start], int(m[2]))
    return out


def test_unwind_matches_dump_syms_stack_cfi() -> None:
    cfi = _cfi(SYM[CRASH_X64])
    assert len(cfi) == 41
    with PeImage.from_file(CRASH_X64) as pe:
        table = pe.runtime_functions
        assert {rf.begin for rf in table} == set(cfi)
        for rf in table:
            size, cfa = cfi[rf.begin]
            assert rf.end - rf.begin == size
            chain = pe.unwind_chain(rf)
            assert chain is not None
            assert sum(info.stack_size for info in chain) + 8 == cfa
            # every address inside the function finds it; the byte after does not (or another)
            assert pe.function_for(rf.begin) == rf
            assert pe.function_for(rf.end - 1) == rf
            nxt = pe.function_for(rf.end)
            assert nxt is None or nxt.begin == rf.end


def test_x86_image_has_no_amd64_unwind() -> None:
    with PeImage.from_file(CRASH_X86) as pe:
        assert pe.machine == Machine.I386
        assert not pe.is_64bit
        assert len(pe.runtime_functions) == 0
        assert pe.function_for(0x1000) is None


# ---------------------------------------------------------------- pefile as oracle


def _pe_codes(info: object) -> list[tuple[int, int, int, int | None]]:
    """(offset, op, op_info, operand) of pefile's decoded unwind codes."""
    out: list[tuple[int, int, int, int | None]] = []
    for code in info.UnwindCodes:  # type: ignore[attr-defined]
        s = code.struct
        op = s.UnwindOp
        kind = type(code).__name__
        if kind == "PrologEpilogOpPushReg":
            out.append((s.CodeOffset, op, s.Reg, None))
        elif kind == "PrologEpilogOpAllocLarge":
            out.append((s.CodeOffset, op, s.OpInfo, code.get_alloc_size()))
        elif kind == "PrologEpilogOpAllocSmall":
            out.append((s.CodeOffset, op, s.AllocSizeInQwordsMinus8, code.get_alloc_size()))
        elif kind == "PrologEpilogOpSetFP":
            out.append((s.CodeOffset, op, s.OpInfo, code._frame_offset))
        elif kind in ("PrologEpilogOpSaveReg", "PrologEpilogOpSaveRegFar",
                      "PrologEpilogOpSaveXMM", "PrologEpilogOpSaveXMMFar"):
            out.append((s.CodeOffset, op, s.Reg, code.get_offset()))
        elif kind == "PrologEpilogOpPushFrame":
            out.append((s.CodeOffset, op, s.OpInfo, None))
        else:
            raise AssertionError(f"unexpected pefile code {kind}")
    return out


def _our_codes(info: UnwindInfo) -> list[tuple[int, int, int, int | None]]:
    return [(c.offset_in_prolog, int(c.op), c.op_info, c.operand) for c in info.codes]


@pytest.mark.parametrize("path", ALL_IMAGES, ids=_ids(ALL_IMAGES))
def test_headers_and_sections_match_pefile(path: Path) -> None:
    ref = _ref(path)
    with PeImage.from_file(path) as pe:
        fh, oh = ref.FILE_HEADER, ref.OPTIONAL_HEADER
        h = pe.headers
        assert h.machine == fh.Machine
        assert h.timestamp == fh.TimeDateStamp
        assert h.characteristics == fh.Characteristics == pe.characteristics
        assert h.number_of_sections == fh.NumberOfSections
        assert h.magic == oh.Magic
        assert pe.is_64bit == (oh.Magic == 0x20B)
        assert pe.size_of_image == oh.SizeOfImage
        assert pe.checksum == oh.CheckSum
        assert pe.image_base == oh.ImageBase == pe.base
        assert pe.entry_point == oh.AddressOfEntryPoint
        assert pe.subsystem == oh.Subsystem
        assert h.dll_characteristics == oh.DllCharacteristics
        assert h.size_of_headers == oh.SizeOfHeaders
        assert h.section_alignment == oh.SectionAlignment
        assert h.file_alignment == oh.FileAlignment
        assert h.linker_version == (oh.MajorLinkerVersion, oh.MinorLinkerVersion)
        assert h.os_version == (oh.MajorOperatingSystemVersion, oh.MinorOperatingSystemVersion)
        assert h.size_of_stack_reserve == oh.SizeOfStackReserve
        assert [(d.rva, d.size) for d in pe.data_directories] == [
            (d.VirtualAddress, d.Size) for d in oh.DATA_DIRECTORY
        ]
        assert [
            (s.name, s.virtual_address, s.virtual_size, s.raw_pointer, s.raw_size,
             s.characteristics)
            for s in pe.sections
        ] == [
            (s.Name.rstrip(b"\0").decode(), s.VirtualAddress, s.Misc_VirtualSize,
             s.PointerToRawData, s.SizeOfRawData, s.Characteristics)
            for s in ref.sections
        ]
        for s in ref.sections:
            ours = pe.section_for(s.VirtualAddress)
            assert ours is not None and ours.name == s.Name.rstrip(b"\0").decode()
            assert ours.is_executable == bool(s.Characteristics & 0x20000000)
            # bytes by RVA agree with pefile's mapping
            n = min(64, s.SizeOfRawData)
            assert pe.read(s.VirtualAddress, n) == ref.get_data(s.VirtualAddress, n)


@pytest.mark.parametrize("path", ALL_IMAGES, ids=_ids(ALL_IMAGES))
def test_pdata_and_unwind_match_pefile(path: Path) -> None:
    ref = _ref(path)
    entries = getattr(ref, "DIRECTORY_ENTRY_EXCEPTION", [])
    with PeImage.from_file(path) as pe:
        ours = pe.runtime_functions
        if ref.FILE_HEADER.Machine != 0x8664:
            assert len(ours) == 0
            return
        assert len(ours) == len(entries) > 0
        chained = 0
        for rf, e in zip(ours, sorted(entries, key=lambda e: e.struct.BeginAddress), strict=True):
            assert (rf.begin, rf.end, rf.unwind_rva) == (
                e.struct.BeginAddress, e.struct.EndAddress, e.struct.UnwindData
            )
            info = pe.unwind_info(rf)
            u = e.unwindinfo
            assert info is not None and u is not None
            assert (info.version, info.flags, info.size_of_prolog, info.count_of_codes) == (
                u.Version, u.Flags, u.SizeOfProlog, u.CountOfCodes
            )
            assert (info.frame_register, info.frame_offset) == (u.FrameRegister, u.FrameOffset * 16)
            assert _our_codes(info) == _pe_codes(u)
            assert sum(c.slots for c in info.codes) == info.count_of_codes
            if info.has_chain:
                chained += 1
                assert info.chained is not None
                assert info.chained.begin == u.FunctionEntry  # pefile keeps BeginAddress
                parent = pe.function_for(info.chained.begin)
                assert parent is not None and parent.begin == info.chained.begin
                assert parent == info.chained
                chain = pe.unwind_chain(rf)
                assert chain is not None and len(chain) >= 2
                assert chain[1].rva == info.chained.unwind_rva
            elif info.flags & 3:
                assert info.handler_rva == u.ExceptionHandler
            else:
                assert info.handler_rva is None and info.chained is None
        if path.name in ("cli-64.exe", "gui-64.exe"):
            assert chained == 5  # counted by pefile, see the module docstring's survey


def test_register_names_follow_amd64_numbering() -> None:
    # the pefile REGISTERS table is an independent statement of the numbering
    assert {int(r): r.name for r in Register} == {
        k: v for k, v in pefile.REGISTERS.items() if isinstance(k, int)
    }
    code = UnwindCode(4, UnwindOp.PUSH_NONVOL, 5, None, 1)
    assert code.register is Register.RBP


@pytest.mark.parametrize("path", ALL_IMAGES, ids=_ids(ALL_IMAGES))
def test_version_resource_matches_pefile(path: Path) -> None:
    ref = _ref(path)
    with PeImage.from_file(path) as pe:
        info = pe.version_info
        if not hasattr(ref, "VS_FIXEDFILEINFO"):
            assert info is None
            return
        assert info is not None and info.fixed is not None
        f = ref.VS_FIXEDFILEINFO[0]
        fx = info.fixed
        assert fx.file_version == (
            f.FileVersionMS >> 16, f.FileVersionMS & 0xFFFF,
            f.FileVersionLS >> 16, f.FileVersionLS & 0xFFFF,
        )
        assert pe.file_version == fx.file_version
        assert fx.product_version == (
            f.ProductVersionMS >> 16, f.ProductVersionMS & 0xFFFF,
            f.ProductVersionLS >> 16, f.ProductVersionLS & 0xFFFF,
        )
        assert (fx.flags_mask, fx.flags, fx.os, fx.type, fx.subtype) == (
            f.FileFlagsMask, f.FileFlags, f.FileOS, f.FileType, f.FileSubtype
        )
        tables: dict[str, dict[str, str]] = {}
        translations: list[int] = []
        for group in ref.FileInfo[0]:
            for table in getattr(group, "StringTable", []):
                tables[table.LangID.decode()] = {
                    k.decode(): v.decode() for k, v in table.entries.items()
                }
            for var in getattr(group, "Var", []):
                for word in var.entry.get(b"Translation", "").split():
                    translations.append(int(word, 16))
        assert info.string_tables == tables
        assert [x for pair in info.translations for x in pair] == translations
        assert info.strings["FileVersion"] == ".".join(map(str, fx.file_version))


@pytest.mark.parametrize("path", ALL_IMAGES, ids=_ids(ALL_IMAGES))
def test_codeview_matches_pefile(path: Path) -> None:
    ref = _ref(path)
    expected = None
    for entry in getattr(ref, "DIRECTORY_ENTRY_DEBUG", []):
        if entry.struct.Type == 2 and entry.entry is not None:
            e = entry.entry
            if e.CvSignature == b"RSDS":
                guid = (
                    f"{e.Signature_Data1:08X}{e.Signature_Data2:04X}{e.Signature_Data3:04X}"
                    f"{e.Signature_Data4:02X}{e.Signature_Data5:02X}"
                    + e.Signature_Data6.hex().upper()
                )
                expected = (e.PdbFileName.rstrip(b"\0").decode(), guid, e.Age)
            break
    with PeImage.from_file(path) as pe:
        assert [(d.type, d.size, d.rva, d.file_offset) for d in pe.debug_entries] == [
            (d.struct.Type, d.struct.SizeOfData, d.struct.AddressOfRawData,
             d.struct.PointerToRawData)
            for d in getattr(ref, "DIRECTORY_ENTRY_DEBUG", [])
        ]
        assert (tuple(pe.codeview) if pe.codeview else None) == expected


@pytest.mark.parametrize("path", ALL_IMAGES, ids=_ids(ALL_IMAGES))
def test_exports_match_pefile(path: Path) -> None:
    ref = _ref(path)
    with PeImage.from_file(path) as pe:
        table = pe.exports
        if not hasattr(ref, "DIRECTORY_ENTRY_EXPORT"):
            assert table is None
            return
        assert table is not None
        ed = ref.DIRECTORY_ENTRY_EXPORT
        assert table.dll_name == ref.get_string_at_rva(ed.struct.Name).decode()
        assert table.ordinal_base == ed.struct.Base
        theirs = sorted(
            (s.ordinal, s.name.decode() if s.name else None,
             s.forwarder.decode() if s.forwarder else None, s.address)
            for s in ed.symbols
        )
        ours = sorted((e.ordinal, e.name, e.forwarder, e.rva) for e in table)
        assert ours == theirs
        # the nearest export below an RVA, checked by a plain scan over pefile's list
        code = sorted({s.address for s in ed.symbols if not s.forwarder})
        for probe in code[:: max(1, len(code) // 50)]:
            for rva in (probe, probe + 1, probe - 1):
                below = [a for a in code if a <= rva]
                near = table.nearest(rva)
                assert (near.rva if near else None) == (below[-1] if below else None)
        if path.name == "kernel32.dll":
            fwd = table.by_name("AcquireSRWLockExclusive")
            assert fwd is not None and fwd.forwarder == "NTDLL.RtlAcquireSRWLockExclusive"


# ---------------------------------------------------------------- memory layout


def _mapped(path: Path, base: int) -> tuple[bytes, Callable[[int, int], bytes]]:
    """pefile's memory-mapped image, and a dump-like reader over it at ``base``.

    pefile stops the image after the last section's raw data; the loader maps
    SizeOfImage bytes, the rest zero, so the image is padded to that size.
    """
    ref = _ref(path)
    image: bytes = bytes(ref.get_memory_mapped_image())
    image += bytes(max(0, ref.OPTIONAL_HEADER.SizeOfImage - len(image)))

    def read(address: int, size: int) -> bytes:
        off = address - base
        if off < 0 or off + size > len(image):
            raise MemoryNotInDump("not captured", address=address)
        return image[off : off + size]

    return image, read


def _summary(pe: PeImage) -> Iterator[object]:
    yield pe.headers
    yield pe.sections
    yield pe.data_directories
    yield pe.codeview
    yield pe.version_info
    yield pe.debug_entries
    table = pe.runtime_functions
    yield table.entries
    for rf in table:
        yield pe.unwind_chain(rf)


@pytest.mark.parametrize("path", ALL_IMAGES, ids=_ids(ALL_IMAGES))
def test_memory_layout_agrees_with_file_layout(path: Path) -> None:
    base = 0x7FF6_1234_0000
    image, read = _mapped(path, base)
    with PeImage.from_file(path) as disk:
        mem = PeImage.from_memory(read, base, len(image), name=path.name)
        assert mem.layout == "memory" and disk.layout == "file"
        assert mem.base == base
        assert list(_summary(mem)) == list(_summary(disk))
        assert mem.warnings == []


def test_memory_layout_with_holes_degrades_to_warnings() -> None:
    base = 0x1_4000_0000
    image, _ = _mapped(CRASH_X64, base)
    with PeImage.from_file(CRASH_X64) as disk:
        pdata = disk.directory(3)
        rsrc = disk.directory(2)
        assert pdata is not None and rsrc is not None
        first_rf = disk.runtime_functions[0]
        holes = [
            (rsrc.rva & ~0xFFF, 0x1000),  # the whole resource section
            (first_rf.unwind_rva & ~0xFFF, 0x1000),  # the .rdata page with the .xdata
        ]
        debug = disk.directory(6)
        assert debug is not None
        debug_lost = any(start <= debug.rva < start + n for start, n in holes)

    def read(address: int, size: int) -> bytes:
        off = address - base
        for start, length in holes:
            if off < start + length and start < off + size:
                raise MemoryNotInDump("page not captured", address=address)
        return image[off : off + size]

    pe = PeImage.from_memory(read, base, len(image))
    assert pe.version_info is None
    assert (pe.codeview is None) == debug_lost
    assert any("debug directory" in w for w in pe.warnings) == debug_lost
    assert len(pe.runtime_functions) == 41
    assert pe.unwind_info(first_rf) is None
    assert pe.unwind_chain(first_rf) is None
    assert any("version resource" in w for w in pe.warnings)
    assert any("UNWIND_INFO" in w for w in pe.warnings)
    n = len(pe.warnings)
    pe.unwind_info(first_rf)  # cached: no second warning
    assert len(pe.warnings) == n


def test_memory_layout_pdata_page_missing_keeps_the_rest() -> None:
    # No image at hand has a .pdata larger than a page, so the image is placed
    # 0x800 bytes off a page boundary: its table then straddles two pages, and
    # the page holding the second half is "not captured".
    base = 0x1_4000_0800
    path = next(p for p in LAUNCHERS if p.name == "t64.exe")
    image, _ = _mapped(path, base)
    with PeImage.from_file(path) as disk:
        pdata = disk.directory(3)
        assert pdata is not None
        total = len(disk.runtime_functions)
        hole = (pdata.rva & ~0xFFF) + 0x800  # RVA of the page boundary inside the table
        assert pdata.rva < hole < pdata.rva + pdata.size
        expected = [
            rf for i, rf in enumerate(disk.runtime_functions)
            if not (hole <= pdata.rva + 12 * i + 11 and pdata.rva + 12 * i < hole + 0x1000)
        ]

    def read(address: int, size: int) -> bytes:
        off = address - base
        if off < hole + 0x1000 and hole < off + size:
            raise MemoryNotInDump("page not captured", address=address)
        return image[off : off + size]

    pe = PeImage.from_memory(read, base, len(image))
    assert list(pe.runtime_functions) == expected
    assert 0 < len(expected) < total
    assert any("not in dump" in w for w in pe.warnings)


def test_memory_layout_without_headers_raises_memory_not_in_dump() -> None:
    def read(address: int, size: int) -> bytes:
        raise MemoryNotInDump("nothing captured", address=address)

    with pytest.raises(MemoryNotInDump):
        PeImage.from_memory(read, 0x10000, 0x9000)


def test_memory_layout_module_size_is_checked_against_size_of_image() -> None:
    base = 0x7FF6_0000_0000
    image, read = _mapped(CRASH_X64, base)
    unsized = PeImage.from_memory(read, base)
    assert unsized.size_of_image == len(image) and unsized.warnings == []
    assert unsized.codeview is not None
    odd = PeImage.from_memory(read, base, len(image) - 0x1000)
    assert any("differs from SizeOfImage" in w for w in odd.warnings)
    assert odd.image_key == unsized.image_key
    assert len(odd.runtime_functions) == 41
