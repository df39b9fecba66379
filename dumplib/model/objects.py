"""The typed objects of the public API: System, Thread, Module, ExceptionInfo.

They wrap the raw records of :mod:`dumplib.format.records` (kept as ``.raw``)
and add what a reader wants: names, ranges, parsed versions and PDB identity.
"""

from __future__ import annotations

import bisect
import datetime as _dt
from collections.abc import Callable, Iterator, Sequence

from dumplib._exc import TYPE_CHECKING

#: mypy reads the standard decorator; at run time dumplib._record builds the same
#: frozen records without compiling six methods each (issue #16)
if TYPE_CHECKING:
    from dataclasses import dataclass, field
else:
    from dumplib._record import dataclass, field

from dumplib._exc import DumpError
from dumplib.format.constants import Arch, ExceptionCode, PlatformId, ProductType
from dumplib.format.records import (
    CodeViewElf,
    CodeViewPdb20,
    CodeViewPdb70,
    CpuInformation,
    ExceptionRecord,
    FixedFileInfo,
    ModuleRecord,
    SystemInfo,
    ThreadInfo,
    ThreadRecord,
    UnloadedModuleRecord,
)

if TYPE_CHECKING:
    import pandas

    from dumplib.format.context import Context

__all__ = [
    "ExceptionInfo",
    "Module",
    "ModuleList",
    "System",
    "Thread",
    "ThreadList",
    "UnloadedModule",
    "basename",
    "filetime_to_datetime",
]

if TYPE_CHECKING:
    from typing import TypeVar, overload

    T = TypeVar("T")
else:  # Sequence[T] without typing at run time
    T = object


def basename(path: str) -> str:
    """The last component of a Windows or POSIX path."""
    return path.replace("\\", "/").rsplit("/", 1)[-1]


_FILETIME_EPOCH = _dt.datetime(1601, 1, 1, tzinfo=_dt.timezone.utc)


def filetime_to_datetime(filetime: int) -> _dt.datetime | None:
    """Convert a FILETIME (100 ns ticks since 1601-01-01 UTC) to an aware datetime."""
    if filetime <= 0:
        return None
    try:
        return _FILETIME_EPOCH + _dt.timedelta(microseconds=filetime // 10)
    except OverflowError:
        return None


_OS_NAMES = {
    (5, 1): ("Windows XP", "Windows XP"),
    (5, 2): ("Windows XP x64", "Windows Server 2003"),
    (6, 0): ("Windows Vista", "Windows Server 2008"),
    (6, 1): ("Windows 7", "Windows Server 2008 R2"),
    (6, 2): ("Windows 8", "Windows Server 2012"),
    (6, 3): ("Windows 8.1", "Windows Server 2012 R2"),
}


@dataclass(frozen=True, slots=True)
class System:
    """The SystemInfo stream: CPU architecture and operating-system version.

    Attributes:
        arch: the CPU architecture (inferred from the thread contexts when the
            dump has no SystemInfo stream; then ``present`` is False).
        os_version: ``(major, minor, build)``.
        present: whether the dump has a SystemInfo stream.
    """

    arch: Arch
    os_version: tuple[int, int, int]
    csd_version: str
    platform_id: int
    product_type: int
    processor_architecture: int
    processor_level: int
    processor_revision: int
    number_of_processors: int
    suite_mask: int
    cpu: CpuInformation | None
    present: bool
    raw: SystemInfo | None

    @property
    def pointer_size(self) -> int:
        """Bytes in a pointer: 4 on x86/arm, 8 otherwise."""
        return 4 if self.arch in (Arch.X86, Arch.ARM) else 8

    @property
    def os_name(self) -> str:
        """A readable OS name, e.g. ``"Windows Server 2012 R2"`` or ``"Linux"``."""
        major, minor, build = self.os_version
        pid = self.platform_id
        if pid in (PlatformId.WIN32_NT, PlatformId.WIN32_WINDOWS, PlatformId.WIN32s):
            server = self.product_type in (ProductType.SERVER, ProductType.DOMAIN_CONTROLLER)
            if (major, minor) in _OS_NAMES:
                return _OS_NAMES[(major, minor)][1 if server else 0]
            if major == 10:
                if server:
                    for since, name in ((26100, "2025"), (20348, "2022"), (17763, "2019")):
                        if build >= since:
                            return f"Windows Server {name}"
                    return "Windows Server 2016"
                return "Windows 11" if build >= 22000 else "Windows 10"
            return f"Windows {major}.{minor}"
        try:
            return PlatformId(pid).name.replace("_", " ").title().replace("Os X", "OS X")
        except ValueError:
            return f"platform 0x{pid:x}"

    @property
    def cpu_vendor(self) -> str | None:
        """The x86 CPUID vendor string (``"GenuineIntel"``), when recorded."""
        return self.cpu.vendor_id if self.cpu else None


class Thread:
    """A thread of the dumped process.

    Attributes:
        id: the thread id.
        name: the thread's description from ThreadNamesStream, or None.
        info: the ThreadInfoList entry (times, start address), or None.
        raw: the MINIDUMP_THREAD record.
    """

    __slots__ = ("_context", "_load_context", "info", "name", "raw")

    def __init__(
        self,
        raw: ThreadRecord,
        load_context: Callable[[ThreadRecord], Context],
        name: str | None = None,
        info: ThreadInfo | None = None,
    ) -> None:
        self.raw = raw
        self.name = name
        self.info = info
        self._load_context = load_context
        self._context: Context | None = None

    @property
    def id(self) -> int:
        """The thread id."""
        return self.raw.thread_id

    @property
    def teb(self) -> int:
        """Address of the thread environment block."""
        return self.raw.teb

    @property
    def suspend_count(self) -> int:
        """The thread's suspend count at dump time."""
        return self.raw.suspend_count

    @property
    def priority(self) -> int:
        """The thread's priority."""
        return self.raw.priority

    @property
    def priority_class(self) -> int:
        """The process priority class recorded with the thread."""
        return self.raw.priority_class

    @property
    def context(self) -> Context:
        """The thread's registers (parsed on first access).

        Raises:
            DumpError: the context record is missing or cut.
        """
        if self._context is None:
            self._context = self._load_context(self.raw)
        return self._context

    @property
    def stack_range(self) -> tuple[int, int] | None:
        """``(start, size)`` of the captured stack memory, or None."""
        st = self.raw.stack
        return (st.start_of_memory_range, st.data_size) if st.data_size else None

    @property
    def start_address(self) -> int | None:
        """The thread's start address from ThreadInfoList, when present."""
        return self.info.start_address if self.info else None

    @property
    def create_time(self) -> _dt.datetime | None:
        """When the thread was created (ThreadInfoList), as UTC."""
        return filetime_to_datetime(self.info.create_time) if self.info else None

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"<Thread {self.id} (0x{self.id:x}){name}>"


class _RecordList(Sequence[T]):
    """An immutable sequence of model objects."""

    __slots__ = ("_items",)

    def __init__(self, items: Sequence[T]) -> None:
        self._items = tuple(items)

    if TYPE_CHECKING:  # typing's overload, for mypy only

        @overload
        def __getitem__(self, index: int) -> T: ...
        @overload
        def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    #: Most items :meth:`__repr__` lists, one line each.
    REPR_LIMIT = 20

    def __repr__(self) -> str:
        head = f"<{type(self).__name__} of {len(self._items)}>"
        lines = [head] + ["  " + self._repr_line(x) for x in self._items[: self.REPR_LIMIT]]
        if len(self._items) > self.REPR_LIMIT:
            lines.append(f"  ... {len(self._items) - self.REPR_LIMIT} more")
        return "\n".join(lines)

    def _repr_line(self, item: T) -> str:
        return repr(item)


class ThreadList(_RecordList[Thread]):
    """The dump's threads, in dump order, with lookup by id."""

    __slots__ = ("_by_id",)

    def __init__(self, items: Sequence[Thread]) -> None:
        super().__init__(items)
        self._by_id = {t.id: t for t in reversed(self._items)}

    def _repr_line(self, item: Thread) -> str:
        try:
            ip = f"ip 0x{item.context.ip:x}"
        except DumpError:
            ip = "ip unknown"
        name = f" {item.name!r}" if item.name else ""
        return f"{item.id:>6} (0x{item.id:x}){name}  {ip}"

    def get(self, thread_id: int) -> Thread | None:
        """The thread with this id, or None."""
        return self._by_id.get(thread_id)

    @property
    def ids(self) -> list[int]:
        """Thread ids in dump order."""
        return [t.id for t in self._items]

    def to_dataframe(self) -> pandas.DataFrame:
        """The threads as a pandas DataFrame (columns: see
        :func:`dumplib.model.tables.threads_dataframe`).

        Raises:
            ImportError: pandas is not installed (``pip install 'dumplib[dataframe]'``).
        """
        from dumplib.model.tables import threads_dataframe

        return threads_dataframe(self._items)


@dataclass(frozen=True, slots=True)
class Module:
    """A module (EXE or DLL) loaded in the process.

    Attributes:
        name: file name (``"ntdll.dll"``); path: full path as recorded.
        base, size, end: the image's address range (``end = base + size``).
        timestamp, checksum: from the module record (the PE header's values).
        version: the file version ``(a, b, c, d)`` or None when not recorded.
        pdb: ``(pdb_name, guid_hex_upper_no_dashes, age)`` from the CodeView
            record, or None (wine writes none). For a PDB 2.0 record the second
            item is the 8-digit signature.
    """

    name: str
    path: str
    base: int
    size: int
    timestamp: int
    checksum: int
    version: tuple[int, int, int, int] | None
    pdb: tuple[str, str, int] | None
    raw: ModuleRecord = field(repr=False, compare=False)

    @property
    def end(self) -> int:
        """First address after the image."""
        return self.base + self.size

    @property
    def fixed_file_info(self) -> FixedFileInfo:
        """The VS_FIXEDFILEINFO recorded for the module."""
        return self.raw.version_info

    @property
    def product_version(self) -> tuple[int, int, int, int] | None:
        """The product version, or None when not recorded."""
        vi = self.raw.version_info
        return vi.product_version if vi.valid else None

    @property
    def debug_file(self) -> str:
        """The debug file's name: the PDB's base name for PE images, else the module's name."""
        cv = self.raw.codeview
        if isinstance(cv, (CodeViewPdb70, CodeViewPdb20)) and cv.pdb_name:
            return basename(cv.pdb_name)
        return self.name

    @property
    def debug_id(self) -> str | None:
        """Breakpad's debug id: PDB GUID (or Mach-O UUID) and age, or the ELF build id's
        GUID and 0; upper-case hex. None without a CodeView record."""
        cv = self.raw.codeview
        if isinstance(cv, CodeViewPdb70):
            return f"{cv.guid_hex}{cv.age:X}"
        if isinstance(cv, CodeViewPdb20):
            return f"{cv.signature:08X}{cv.age:X}"
        if isinstance(cv, CodeViewElf):
            return cv.debug_id
        return None

    @property
    def code_id(self) -> str | None:
        """Breakpad's code id: the ELF build id, the Mach-O UUID (lower-case hex), or
        TimeDateStamp and SizeOfImage for PE images."""
        cv = self.raw.codeview
        if isinstance(cv, CodeViewElf):
            return cv.code_id
        if isinstance(cv, CodeViewPdb70) and cv.age == 0 and not cv.pdb_name.lower().endswith(
            ".pdb"
        ):
            return cv.guid.hex  # crashpad/breakpad write a Mach-O UUID as an RSDS record
        if self.timestamp or self.size:
            return f"{self.timestamp:08x}{self.size:x}"
        return None

    @property
    def breakpad_identity(self) -> tuple[str, str, int] | None:
        """``(debug_file, guid_hex, age)`` that names this module's breakpad ``.sym``
        (``debug_file/debug_id/debug_file.sym``) on any platform, or None."""
        if self.pdb is not None:
            return self.pdb
        cv = self.raw.codeview
        if isinstance(cv, CodeViewElf):
            return (self.debug_file, cv.guid.hex.upper(), 0)
        return None

    @property
    def image_key(self) -> str:
        """The symbol-store key of the image: TimeDateStamp then SizeOfImage, in hex."""
        return f"{self.timestamp:08X}{self.size:x}"

    def __contains__(self, address: object) -> bool:
        return isinstance(address, int) and self.base <= address < self.end

    @classmethod
    def from_record(cls, rec: ModuleRecord) -> Module:
        """Build a Module from its MINIDUMP_MODULE record."""
        vi = rec.version_info
        has_version = vi.valid and bool(vi.file_version_ms or vi.file_version_ls)
        version = vi.file_version if has_version else None
        pdb: tuple[str, str, int] | None = None
        cv = rec.codeview
        if isinstance(cv, CodeViewPdb70):
            pdb = (cv.pdb_name, cv.guid_hex, cv.age)
        elif isinstance(cv, CodeViewPdb20):
            pdb = (cv.pdb_name, f"{cv.signature:08X}", cv.age)
        return cls(
            name=basename(rec.module_name),
            path=rec.module_name,
            base=rec.base_of_image,
            size=rec.size_of_image,
            timestamp=rec.time_date_stamp,
            checksum=rec.checksum,
            version=version,
            pdb=pdb,
            raw=rec,
        )


@dataclass(frozen=True, slots=True)
class UnloadedModule:
    """A module that had been unloaded before the dump was written."""

    name: str
    path: str
    base: int
    size: int
    timestamp: int
    checksum: int
    raw: UnloadedModuleRecord = field(repr=False, compare=False)

    @property
    def end(self) -> int:
        """First address after the image."""
        return self.base + self.size

    @classmethod
    def from_record(cls, rec: UnloadedModuleRecord) -> UnloadedModule:
        """Build from a MINIDUMP_UNLOADED_MODULE record."""
        return cls(
            basename(rec.module_name),
            rec.module_name,
            rec.base_of_image,
            rec.size_of_image,
            rec.time_date_stamp,
            rec.checksum,
            rec,
        )


class ModuleList(_RecordList[Module]):
    """The loaded modules, in dump order, with address and name lookup by bisection."""

    __slots__ = ("_bases", "_sorted")

    def __init__(self, items: Sequence[Module]) -> None:
        super().__init__(items)
        self._sorted = sorted(self._items, key=lambda m: m.base)
        self._bases = [m.base for m in self._sorted]

    def _repr_line(self, item: Module) -> str:
        version = ".".join(map(str, item.version)) if item.version else "-"
        return f"0x{item.base:x}-0x{item.end:x}  {item.name}  {version}"

    def find(self, address: int) -> Module | None:
        """The module whose image contains ``address``, or None."""
        i = bisect.bisect_right(self._bases, address) - 1
        if i >= 0 and address < self._sorted[i].end:
            return self._sorted[i]
        return None

    def by_name(self, name: str) -> Module | None:
        """The first module whose file name matches ``name`` (case-insensitive)."""
        low = name.lower()
        for m in self._items:
            if m.name.lower() == low:
                return m
        return None

    @property
    def main(self) -> Module | None:
        """The main executable: the first module, by minidump convention."""
        return self._items[0] if self._items else None

    def to_dataframe(self) -> pandas.DataFrame:
        """The modules as a pandas DataFrame (columns: see
        :func:`dumplib.model.tables.modules_dataframe`).

        Raises:
            ImportError: pandas is not installed (``pip install 'dumplib[dataframe]'``).
        """
        from dumplib.model.tables import modules_dataframe

        return modules_dataframe(self._items)


class ExceptionInfo:
    """The exception that caused the dump (ExceptionStream).

    Attributes:
        thread_id: the thread that raised it.
        code, name: the exception code and its conventional name (None if unknown).
        flags: EXCEPTION_RECORD.ExceptionFlags (1 = non-continuable).
        address: where it happened.
        parameters: ExceptionInformation, the first NumberParameters values.
        raw: the first EXCEPTION_RECORD.
        chained: further records reached through ExceptionRecord pointers in
            captured memory (nested exceptions), outermost last.
    """

    __slots__ = ("_context", "_load_context", "_platform", "chained", "raw", "thread_id")

    def __init__(
        self,
        thread_id: int,
        raw: ExceptionRecord,
        load_context: Callable[[], Context | None],
        chained: Sequence[ExceptionRecord] = (),
        platform: Callable[[], int] | None = None,
    ) -> None:
        self._platform = platform
        self.thread_id = thread_id
        self.raw = raw
        self.chained = tuple(chained)
        self._load_context = load_context
        self._context: Context | None = None

    @property
    def code(self) -> int:
        """ExceptionCode."""
        return self.raw.exception_code

    @property
    def platform_id(self) -> int:
        """The SystemInfo platform id of the OS that wrote the dump (read on first use)."""
        return PlatformId.WIN32_NT if self._platform is None else self._platform()

    @property
    def name(self) -> str | None:
        """The code's conventional name for the OS that wrote the dump.

        ``"EXCEPTION_ACCESS_VIOLATION"`` on Windows, the signal (``"SIGSEGV"``)
        on Linux and Android, the Mach exception (``"EXC_BAD_ACCESS"``) on
        macOS and iOS, ``"DUMP_REQUESTED"`` for breakpad's requested dumps.
        """
        code = self.raw.exception_code & 0xFFFFFFFF
        platform = self.platform_id
        if platform not in (PlatformId.LINUX, PlatformId.ANDROID, PlatformId.MAC_OS_X,
                            PlatformId.IOS):
            return ExceptionCode.name_of(self.raw.exception_code)
        from dumplib.format import oscodes  # signals and Mach codes: not for Windows dumps

        if platform in (PlatformId.LINUX, PlatformId.ANDROID):
            if code == oscodes.DUMP_REQUESTED:
                return "DUMP_REQUESTED"
            return oscodes.enum_name(oscodes.LinuxSignal, code)
        if platform in (PlatformId.MAC_OS_X, PlatformId.IOS):
            if code == oscodes.CRASHPAD_SIMULATED:
                return "SIMULATED"
            if code == 0 and self.raw.parameters[:1] == (oscodes.MachException.EXC_CRASH,):
                return "EXC_CRASH"  # crashpad unwrapped EXC_CRASH of a signal: see oscodes
            return oscodes.enum_name(oscodes.MachException, code)
        return ExceptionCode.name_of(self.raw.exception_code)

    @property
    def flags(self) -> int:
        """ExceptionFlags."""
        return self.raw.exception_flags

    @property
    def address(self) -> int:
        """ExceptionAddress."""
        return self.raw.exception_address

    @property
    def parameters(self) -> tuple[int, ...]:
        """The exception's parameters (ExceptionInformation[:NumberParameters])."""
        return self.raw.parameters

    @property
    def context(self) -> Context | None:
        """The faulting context saved with the exception, when the dump has it.

        This, not the thread list's entry, is the state at the fault when
        another thread wrote the dump.
        """
        if self._context is None:
            self._context = self._load_context()
        return self._context

    def __repr__(self) -> str:
        return (
            f"<ExceptionInfo 0x{self.code:08x} {self.name or '?'} at 0x{self.address:x} "
            f"thread {self.thread_id}>"
        )
