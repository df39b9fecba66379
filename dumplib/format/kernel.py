"""Windows kernel crash dumps (``PAGEDU64`` / ``PAGEDUMP``): the header and the memory layout.

A kernel dump starts with a ``DUMP_HEADER64`` (0x2000 bytes, signature ``PAGE`` + ``DU64``)
or ``DUMP_HEADER32`` (0x1000 bytes, ``PAGE`` + ``DUMP``). Its ``DumpType`` says how the
physical memory that follows is laid out:

* 1, full / run-based: the pages of each ``PHYSICAL_MEMORY_RUN`` of the header's
  ``PHYSICAL_MEMORY_DESCRIPTOR``, back to back, right after the header;
* 5, bitmap (``SDMP`` kernel memory or ``FDMP`` complete memory, a ``BMP_HEADER`` after
  the header): bit *n* of the bitmap set means page frame *n* is in the file, pages in
  bit order from ``FirstPage``; 6 is the same for a live kernel dump;
* 8, 9, 10, the Windows 10+ ``RDMP`` variants (kernel memory, kernel-and-user ("active"),
  complete): after a 0x30-byte ``RDMP`` header, a list of (first page frame, page count)
  ranges ending at a zero frame; their pages follow from ``FirstPageOffset`` in list order;
* 4, triage (the small "minidump" of ``C:\\Windows\\Minidump``): a ``TRIAGE_DUMP``
  directory of file offsets (context, stack, driver list, data blocks) after the header.

Field offsets follow Microsoft's ``DUMP_HEADER64``/``DUMP_HEADER32`` as documented in the
Windows SDK metadata (``windows-docs-rs``) and as volatility3's ``crash.json``/
``crash64.json`` and kdmp-parser declare them; the triage directory follows ``ntiodump.h``'s
``TRIAGE_DUMP64``/``TRIAGE_DUMP32``. Parsing reads the fixed header and checks every count
against the bytes the file has before anything is allocated.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from dumplib._exc import CorruptDumpError, NotADumpError, TruncatedError
from dumplib.format.constants import Arch
from dumplib.format.records import ExceptionRecord
from dumplib.source import Source

__all__ = [
    "PAGE_SIZE",
    "BitmapLayout",
    "KernelDumpType",
    "KernelHeader",
    "TriageLayout",
    "is_kernel_dump",
    "parse_kernel_header",
]

PAGE_SIZE = 0x1000
HEADER64_SIZE = 0x2000
HEADER32_SIZE = 0x1000
#: Most runs a PHYSICAL_MEMORY_DESCRIPTOR can hold inside its 700-byte buffer.
_MAX_RUNS64 = (700 - 0x10) // 16
_MAX_RUNS32 = (700 - 0x8) // 8


class KernelDumpType(enum.IntEnum):
    """``DUMP_HEADER.DumpType``: how the physical memory is stored."""

    FULL = 1
    SUMMARY = 2
    HEADER_ONLY = 3
    TRIAGE = 4
    BITMAP_FULL = 5
    BITMAP_KERNEL = 6
    BITMAP_LIVE = 7
    RDMP_KERNEL = 8
    RDMP_KERNEL_AND_USER = 9
    RDMP_COMPLETE = 10


#: ``Dump.kind`` for each dump type (the API's names).
KIND_OF: dict[int, str] = {
    KernelDumpType.FULL: "kernel-full",
    KernelDumpType.SUMMARY: "kernel-summary",
    KernelDumpType.HEADER_ONLY: "kernel-header",
    KernelDumpType.TRIAGE: "kernel-triage",
    KernelDumpType.BITMAP_FULL: "kernel-bitmap",
    KernelDumpType.BITMAP_KERNEL: "kernel-bitmap",
    KernelDumpType.BITMAP_LIVE: "kernel-bitmap",
    KernelDumpType.RDMP_KERNEL: "kernel-memory",
    KernelDumpType.RDMP_KERNEL_AND_USER: "kernel-active",
    KernelDumpType.RDMP_COMPLETE: "kernel-complete",
}

_MACHINE_ARCH = {0x8664: Arch.AMD64, 0x14C: Arch.X86, 0xAA64: Arch.ARM64, 0x1C4: Arch.ARM}


@dataclass(frozen=True, slots=True)
class BitmapLayout:
    """Where a bitmap dump keeps its bitmap and its pages.

    Attributes:
        signature: ``"SDMP"`` (kernel memory), ``"FDMP"`` (complete memory) or ``"RDMP"``.
        bitmap_offset: file offset of the bitmap (bit n = page frame n).
        bitmap_bytes: its length in bytes (checked against the file).
        pages: the number of page frames the bitmap describes.
        first_page: file offset of the first present page.
        present_pages: the header's count of set bits (0 when the format has none).
    """

    signature: str
    bitmap_offset: int
    bitmap_bytes: int
    pages: int
    first_page: int
    present_pages: int


@dataclass(frozen=True, slots=True)
class TriageLayout:
    """The ``TRIAGE_DUMP`` directory of a small memory dump (all offsets are file offsets).

    Attributes mirror ``TRIAGE_DUMP64``/``TRIAGE_DUMP32`` of ``ntiodump.h``. ``top_of_stack``
    is the bugchecking thread's stack pointer: the writer copies ``size_of_call_stack``
    bytes from there up to the thread's initial stack.
    """

    service_pack_build: int
    size_of_dump: int
    valid_offset: int
    context_offset: int
    exception_offset: int
    mm_offset: int
    unloaded_drivers_offset: int
    prcb_offset: int
    process_offset: int
    thread_offset: int
    call_stack_offset: int
    size_of_call_stack: int
    driver_list_offset: int
    driver_count: int
    string_pool_offset: int
    string_pool_size: int
    broken_driver_offset: int
    triage_options: int
    top_of_stack: int
    data_page_address: int
    data_page_offset: int
    data_page_size: int
    debugger_data_offset: int
    debugger_data_size: int
    data_blocks_offset: int
    data_blocks_count: int


@dataclass(frozen=True, slots=True)
class KernelHeader:
    """The fixed header of a kernel dump, typed.

    Attributes:
        is64: ``PAGEDU64`` (True) or ``PAGEDUMP`` (False).
        major_version: 0xF for a free (retail) build, 0xC for a checked build.
        minor_version: the Windows build number.
        directory_table_base: CR3 of the process current at the crash (the kernel's
            page tables), with the PCID bits as recorded.
        pfn_database, ps_loaded_module_list, ps_active_process_head, kd_debugger_data_block:
            kernel addresses recorded by the writer.
        machine_image_type: the IMAGE_FILE_MACHINE of the kernel (0x8664, 0x14C, 0xAA64).
        number_processors: processor count.
        bugcheck_code, bugcheck_parameters: the stop code and its four parameters.
        physical_runs: ``(base_page, page_count)`` of each run of physical memory.
        number_of_pages: the descriptor's page total.
        context_offset, context_size: where the bugchecking processor's CONTEXT is.
        exception: the EXCEPTION_RECORD of the header.
        dump_type: :class:`KernelDumpType` value (an ``int`` when unknown).
        required_dump_space: the file size the writer asked for.
        system_time: FILETIME of the crash; system_uptime: 100 ns units since boot.
        comment: the header's comment text.
        pae_enabled: x86 only: the page tables are PAE (64-bit entries).
        header_size: 0x2000 or 0x1000.
    """

    is64: bool
    major_version: int
    minor_version: int
    directory_table_base: int
    pfn_database: int
    ps_loaded_module_list: int
    ps_active_process_head: int
    machine_image_type: int
    number_processors: int
    bugcheck_code: int
    bugcheck_parameters: tuple[int, int, int, int]
    kd_debugger_data_block: int
    physical_runs: tuple[tuple[int, int], ...]
    number_of_pages: int
    context_offset: int
    context_size: int
    exception: ExceptionRecord
    dump_type: int
    required_dump_space: int
    system_time: int
    system_uptime: int
    comment: str
    mini_dump_fields: int
    secondary_data_state: int
    product_type: int
    suite_mask: int
    writer_status: int
    kd_secondary_version: int
    attributes: int
    boot_id: int
    pae_enabled: bool
    header_size: int

    @property
    def signature(self) -> str:
        """``"PAGEDU64"`` or ``"PAGEDUMP"``."""
        return "PAGEDU64" if self.is64 else "PAGEDUMP"

    @property
    def arch(self) -> Arch:
        """The kernel's CPU architecture, from ``MachineImageType``."""
        return _MACHINE_ARCH.get(self.machine_image_type, Arch.AMD64 if self.is64 else Arch.X86)

    @property
    def build(self) -> int:
        """The Windows build number (``MinorVersion``)."""
        return self.minor_version

    @property
    def kind(self) -> str:
        """``Dump.kind``: ``"kernel-full"``, ``"kernel-bitmap"``, ``"kernel-triage"``, ..."""
        return KIND_OF.get(self.dump_type, f"kernel-type-{self.dump_type}")

    @property
    def dump_type_name(self) -> str:
        """The dump type's name, e.g. ``"BITMAP_FULL"``."""
        try:
            return KernelDumpType(self.dump_type).name
        except ValueError:
            return f"0x{self.dump_type:x}"


_EXC64 = struct.Struct("<IIQQII15Q")
_EXC32 = struct.Struct("<IIIII15I")


def is_kernel_dump(head: bytes) -> bool:
    """Whether the first 8 bytes are a kernel dump signature."""
    return head[:8] in (b"PAGEDU64", b"PAGEDUMP")


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1")


def parse_kernel_header(src: Source) -> KernelHeader:
    """Read and check the fixed header.

    Raises:
        NotADumpError: the file does not start with ``PAGEDU64``/``PAGEDUMP``.
        TruncatedError: the file is shorter than the header.
        CorruptDumpError: the run list does not fit its buffer.
    """
    if src.size < 8:
        raise NotADumpError("file too small to be a dump", offset=0)
    sig = src.read(0, 8, what="kernel dump header")
    if sig == b"PAGEDU64":
        return _parse64(src)
    if sig == b"PAGEDUMP":
        return _parse32(src)
    raise NotADumpError(f"not a kernel dump (signature {sig!r})", offset=0)


def _parse64(src: Source) -> KernelHeader:
    if src.size < HEADER64_SIZE:
        raise TruncatedError(
            f"kernel dump header needs 0x{HEADER64_SIZE:x} bytes, file has 0x{src.size:x}",
            stream="DUMP_HEADER64", offset=0,
        )
    h = src.read(0, HEADER64_SIZE, what="DUMP_HEADER64")
    major, minor, dtb, pfn, psl, psa, machine, nproc, code = struct.unpack_from("<IIQQQQIII", h, 8)
    params = struct.unpack_from("<4Q", h, 0x40)
    (kd,) = struct.unpack_from("<Q", h, 0x80)
    nruns, _pad, npages = struct.unpack_from("<IIQ", h, 0x88)
    dump_type, = struct.unpack_from("<I", h, 0xF98)
    runs: list[tuple[int, int]] = []
    if dump_type == KernelDumpType.FULL:
        if nruns > _MAX_RUNS64:
            raise CorruptDumpError(
                f"{nruns} physical memory runs do not fit the header's 700-byte buffer",
                stream="PHYSICAL_MEMORY_DESCRIPTOR64", offset=0x88,
            )
        runs = [struct.unpack_from("<QQ", h, 0x98 + 16 * i) for i in range(nruns)]
    f = _EXC64.unpack_from(h, 0xF00)
    nparams = min(f[4], 15)
    exc = ExceptionRecord(f[0], f[1], f[2], f[3], f[4], tuple(f[6 : 6 + nparams]))
    required, systime = struct.unpack_from("<qq", h, 0xFA0)
    comment = _cstr(h[0xFB0:0x1030])
    (uptime, mdf, sds, ptype, suite, writer) = struct.unpack_from("<qIIIII", h, 0x1030)
    kdsec = h[0x104D]
    attributes, boot_id = struct.unpack_from("<II", h, 0x1050)
    return KernelHeader(
        is64=True, major_version=major, minor_version=minor, directory_table_base=dtb,
        pfn_database=pfn, ps_loaded_module_list=psl, ps_active_process_head=psa,
        machine_image_type=machine, number_processors=nproc, bugcheck_code=code,
        bugcheck_parameters=(params[0], params[1], params[2], params[3]),
        kd_debugger_data_block=kd, physical_runs=tuple(runs), number_of_pages=npages,
        context_offset=0x348, context_size=3000, exception=exc, dump_type=dump_type,
        required_dump_space=required, system_time=systime, system_uptime=uptime,
        comment=comment, mini_dump_fields=mdf, secondary_data_state=sds, product_type=ptype,
        suite_mask=suite, writer_status=writer, kd_secondary_version=kdsec,
        attributes=attributes, boot_id=boot_id, pae_enabled=False, header_size=HEADER64_SIZE,
    )


def _parse32(src: Source) -> KernelHeader:
    if src.size < HEADER32_SIZE:
        raise TruncatedError(
            f"kernel dump header needs 0x{HEADER32_SIZE:x} bytes, file has 0x{src.size:x}",
            stream="DUMP_HEADER32", offset=0,
        )
    h = src.read(0, HEADER32_SIZE, what="DUMP_HEADER32")
    major, minor, dtb, pfn, psl, psa, machine, nproc, code = struct.unpack_from("<9I", h, 8)
    params = struct.unpack_from("<4I", h, 0x2C)
    pae = bool(h[0x5C])
    kdsec = h[0x5D]
    (kd,) = struct.unpack_from("<I", h, 0x60)
    nruns, npages = struct.unpack_from("<II", h, 0x64)
    (dump_type,) = struct.unpack_from("<I", h, 0xF88)
    runs: list[tuple[int, int]] = []
    if dump_type == KernelDumpType.FULL:
        if nruns > _MAX_RUNS32:
            raise CorruptDumpError(
                f"{nruns} physical memory runs do not fit the header's 700-byte buffer",
                stream="PHYSICAL_MEMORY_DESCRIPTOR32", offset=0x64,
            )
        runs = [struct.unpack_from("<II", h, 0x6C + 8 * i) for i in range(nruns)]
    f = _EXC32.unpack_from(h, 0x7D0)
    nparams = min(f[4], 15)
    exc = ExceptionRecord(f[0], f[1], f[2], f[3], f[4], tuple(f[5 : 5 + nparams]))
    comment = _cstr(h[0x820:0x8A0])
    mdf, sds, ptype, suite, writer = struct.unpack_from("<5I", h, 0xF8C)
    (required,) = struct.unpack_from("<q", h, 0xFA0)
    uptime, systime = struct.unpack_from("<qq", h, 0xFB8)
    return KernelHeader(
        is64=False, major_version=major, minor_version=minor, directory_table_base=dtb,
        pfn_database=pfn, ps_loaded_module_list=psl, ps_active_process_head=psa,
        machine_image_type=machine, number_processors=nproc, bugcheck_code=code,
        bugcheck_parameters=(params[0], params[1], params[2], params[3]),
        kd_debugger_data_block=kd, physical_runs=tuple(runs), number_of_pages=npages,
        context_offset=0x320, context_size=1200, exception=exc, dump_type=dump_type,
        required_dump_space=required, system_time=systime, system_uptime=uptime,
        comment=comment, mini_dump_fields=mdf, secondary_data_state=sds, product_type=ptype,
        suite_mask=suite, writer_status=writer, kd_secondary_version=kdsec,
        attributes=0, boot_id=0, pae_enabled=pae, header_size=HEADER32_SIZE,
    )


def parse_bitmap_layout(src: Source, header: KernelHeader) -> BitmapLayout:
    """Locate the bitmap and the first page of a bitmap dump (types 5-10).

    Raises:
        CorruptDumpError: the bitmap header's signature or sizes are wrong.
        TruncatedError: the bitmap runs past the end of the file.
    """
    base = header.header_size
    what = "bitmap header"
    head = src.read(base, 0x38, what=what)
    if header.dump_type in (
        KernelDumpType.BITMAP_FULL, KernelDumpType.BITMAP_KERNEL, KernelDumpType.BITMAP_LIVE
    ):
        sig = head[:4].decode("latin-1")
        if sig not in ("SDMP", "FDMP") or head[4:8] != b"DUMP":
            raise CorruptDumpError(
                f"bitmap header signature {head[:8]!r}, expected SDMP/FDMP + DUMP",
                stream=what, offset=base,
            )
        first, present, pages = struct.unpack_from("<QQQ", head, 0x20)
        layout = BitmapLayout(sig, base + 0x38, (pages + 7) // 8, pages, first, present)
    else:
        raise CorruptDumpError(f"dump type {header.dump_type} has no bitmap", stream=what)
    if layout.bitmap_offset + layout.bitmap_bytes > src.size or layout.first_page > src.size:
        raise TruncatedError(
            f"bitmap of {layout.bitmap_bytes} bytes or first page at 0x{layout.first_page:x} "
            f"past the end of the file (0x{src.size:x})",
            stream=what, offset=layout.bitmap_offset,
        )
    if layout.first_page < layout.bitmap_offset + layout.bitmap_bytes:
        raise CorruptDumpError(
            f"first page at 0x{layout.first_page:x} overlaps the bitmap",
            stream=what, offset=base,
        )
    return layout


def parse_rdmp_ranges(
    src: Source, header: KernelHeader, warnings: list[str]
) -> tuple[list[tuple[int, int]], int]:
    """The (first page frame, page count) ranges of an RDMP dump (types 8-10) and the file
    offset of their first page. The list ends at a zero frame or at ``MetadataSize``.

    Raises:
        CorruptDumpError: the RDMP header's marker or signatures are wrong.
    """
    base = header.header_size
    what = "RDMP header"
    marker, sig_raw, valid, _u, meta, first = struct.unpack(
        "<I4s4sIQQ", src.read(base, 0x20, what=what)
    )
    if marker != 0x40 or sig_raw != b"RDMP" or valid != b"DUMP":
        raise CorruptDumpError(
            f"RDMP header {sig_raw!r}/{valid!r} marker 0x{marker:x}, expected 0x40 RDMP DUMP",
            stream=what, offset=base,
        )
    start = base + 0x30
    stop = min(base + 0x20 + meta, first, src.size)
    count = max(0, (stop - start) // 16)
    raw = src.read(start, count * 16, what="RDMP ranges")
    ranges: list[tuple[int, int]] = []
    for pfn, pages in struct.iter_unpack("<QQ", raw):
        if not pfn:
            break
        ranges.append((pfn, pages))
    if first > src.size:
        warnings.append(f"RDMP first page at 0x{first:x} is past the end of the file")
    return ranges, first


_TRIAGE64 = struct.Struct("<18IQIIQQ6I")
_TRIAGE32 = struct.Struct("<26I")


def parse_triage_layout(src: Source, header: KernelHeader) -> TriageLayout:
    """Read the ``TRIAGE_DUMP`` directory after the header of a triage dump.

    Raises:
        TruncatedError: the directory is cut.
    """
    base = header.header_size
    if header.is64:
        f = _TRIAGE64.unpack(src.read(base, _TRIAGE64.size, what="TRIAGE_DUMP64"))
        # 18 ULONGs, TopOfStack, the IA64 backing-store (ULONG, ULONG, ULONG64), then
        # DataPageAddress and the ULONG tail.
        top = f[18]
        data_page_address = f[22]
        tail = f[23:]
    else:
        f = _TRIAGE32.unpack(src.read(base, _TRIAGE32.size, what="TRIAGE_DUMP32"))
        top = f[18]
        data_page_address = f[19]
        tail = f[20:]
    head = f[:18]
    return TriageLayout(
        service_pack_build=head[0], size_of_dump=head[1], valid_offset=head[2],
        context_offset=head[3], exception_offset=head[4], mm_offset=head[5],
        unloaded_drivers_offset=head[6], prcb_offset=head[7], process_offset=head[8],
        thread_offset=head[9], call_stack_offset=head[10], size_of_call_stack=head[11],
        driver_list_offset=head[12], driver_count=head[13], string_pool_offset=head[14],
        string_pool_size=head[15], broken_driver_offset=head[16], triage_options=head[17],
        top_of_stack=top, data_page_address=data_page_address,
        data_page_offset=tail[0], data_page_size=tail[1], debugger_data_offset=tail[2],
        debugger_data_size=tail[3], data_blocks_offset=tail[4], data_blocks_count=tail[5],
    )
