"""The public minidump writer: describe a process in code, get a ``.dmp`` file.

:class:`DumpBuilder` collects threads, modules, memory and the other streams,
then lays them out (:meth:`DumpBuilder.build`) and writes them
(:meth:`DumpBuilder.write`, :meth:`DumpBuilder.to_bytes`). Layout is
deterministic: header, stream directory, stream data (each stream's strings,
contexts and CodeView records placed just before the stream body), then all
captured memory at the end, contiguous and in address order (for full-memory
dumps that block is the Memory64List's ``BaseRva`` data, as dbghelp writes it).

Arguments that cannot be written (a value that does not fit its field,
overlapping memory, unknown register) raise ``ValueError``; the builder never
writes a file it knows to be inconsistent unless asked to (raw streams,
``stack_rva_mode="wine"``, explicit ``flags``/``context`` bytes).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import BinaryIO, Literal

from dumplib.builder import _layouts as L
from dumplib.builder._context import encode_context, sp_register
from dumplib.builder._encode import (
    ExceptionRec,
    FunctionTableRec,
    HandleRec,
    ModuleRec,
    ThreadRec,
    nested_chain,
    sint,
    time_zone_bytes,
    uint,
    version_words,
    wchar_array,
    xstate_bytes,
)
from dumplib.builder._output import Data
from dumplib.builder._streams import StreamWriter
from dumplib.builder.records import BuiltDump, NestedException, TimeZone, XStateConfig

__all__ = ["Arch", "Context", "DumpBuilder"]

#: Architectures with a CONTEXT layout.
Arch = Literal["amd64", "x86", "arm64"]
#: A thread context: register values by lower-case name, or a raw CONTEXT record.
Context = Mapping[str, int] | bytes

_ARCH_CODES = {
    "amd64": L.ProcessorArchitecture.AMD64,
    "x86": L.ProcessorArchitecture.INTEL,
    "arm64": L.ProcessorArchitecture.ARM64,
}
_U64 = 1 << 64


class DumpBuilder:
    """Describe a process in code and write it as a Windows minidump.

    Example::

        b = DumpBuilder("amd64", os_version=(10, 0, 19045))
        b.add_thread(0x1A2C, context={"rip": 0x7FF6_0000_1000, "rsp": 0x9F000},
                     stack_start=0x9F000, stack=bytes(0x1000), name="main")
        b.add_module(r"C:\\app\\app.exe", base=0x7FF6_0000_0000, size=0x20000,
                     version=(1, 2, 3, 4), pdb70=("app.pdb", uuid.UUID(int=1), 1))
        b.set_exception(0x1A2C, 0xC0000005, 0x7FF6_0000_1000, parameters=(1, 0))
        b.set_misc_info(process_id=4242)
        b.write("crash.dmp")

    Args:
        arch: ``"amd64"``, ``"x86"`` or ``"arm64"``: selects the CONTEXT layout,
            pointer size and the default ProcessorArchitecture.
        full_memory: write memory as a Memory64ListStream (data contiguous at
            BaseRva, 64-bit offsets) instead of a MemoryListStream.
        flags: the header's MINIDUMP_TYPE; by default derived from what was added
            (WithFullMemory, WithHandleData, WithUnloadedModules, WithFullMemoryInfo,
            WithThreadInfo, WithTokenInformation, WithProcessThreadData).
        time_date_stamp: header TimeDateStamp.
        checksum: header CheckSum.
        implementation_version: high word of the header's Version.
        stack_rva_mode: ``"data"`` (thread stack descriptors point at the stack
            bytes, as dbghelp does) or ``"wine"`` (Rva 0 with DataSize set, as wine
            writes full-memory dumps; readers must find the stack by address). Stack
            bytes placed beyond 4 GiB of file get Rva 0 in either mode, since a 32-bit
            RVA cannot reach them.
        thread_list: write a ThreadListStream.
        thread_ex_list: write a ThreadExListStream (with BackingStore descriptors).
        handle_descriptor_version: 1 (MINIDUMP_HANDLE_DESCRIPTOR, 32 bytes) or 2
            (MINIDUMP_HANDLE_DESCRIPTOR_2, 40 bytes, with object information).
        process_vm_counters_revision: 1 or 2 (MINIDUMP_PROCESS_VM_COUNTERS_1 / _2).
        omit: stream types never to write (e.g. to make a dump without SystemInfo).
        unused_directory_entries: extra UnusedStream (type 0) directory slots at the
            end of the directory, as dbghelp leaves for user streams.
        os_version: (MajorVersion, MinorVersion, BuildNumber).
        csd_version: service-pack string (MINIDUMP_STRING at CSDVersionRva).
        platform_id: PlatformId (2 = VER_PLATFORM_WIN32_NT).
        product_type: ProductType (1 workstation, 2 domain controller, 3 server).
        suite_mask: SuiteMask.
        processor_architecture: override the ProcessorArchitecture code.
        processor_level: ProcessorLevel.
        processor_revision: ProcessorRevision.
        number_of_processors: NumberOfProcessors (one byte).
        vendor_id: x86 CPUID vendor string (12 ASCII characters), x86 dumps only.
        version_information: x86 CPUID 1 EAX.
        feature_information: x86 CPUID 1 EDX.
        amd_extended_cpu_features: x86 CPUID 0x80000001 EDX.
        processor_features: OtherCpuInfo.ProcessorFeatures[2], non-x86 dumps.
    """

    def __init__(
        self,
        arch: Arch = "amd64",
        *,
        full_memory: bool = False,
        flags: int | None = None,
        time_date_stamp: int = 0,
        checksum: int = 0,
        implementation_version: int = 0,
        stack_rva_mode: Literal["data", "wine"] = "data",
        thread_list: bool = True,
        thread_ex_list: bool = False,
        handle_descriptor_version: Literal[1, 2] = 2,
        process_vm_counters_revision: Literal[1, 2] = 2,
        omit: Iterable[int] = (),
        unused_directory_entries: int = 0,
        os_version: tuple[int, int, int] = (10, 0, 19045),
        csd_version: str = "",
        platform_id: int = 2,
        product_type: int = 1,
        suite_mask: int = 0x100,
        processor_architecture: int | None = None,
        processor_level: int = 6,
        processor_revision: int = 0,
        number_of_processors: int = 4,
        vendor_id: str = "GenuineIntel",
        version_information: int = 0,
        feature_information: int = 0,
        amd_extended_cpu_features: int = 0,
        processor_features: tuple[int, int] = (0, 0),
    ) -> None:
        if arch not in _ARCH_CODES:
            raise ValueError(f"arch must be one of {sorted(_ARCH_CODES)}, not {arch!r}")
        if stack_rva_mode not in ("data", "wine"):
            raise ValueError(f"stack_rva_mode must be 'data' or 'wine', not {stack_rva_mode!r}")
        if handle_descriptor_version not in (1, 2):
            raise ValueError("handle_descriptor_version must be 1 or 2")
        if process_vm_counters_revision not in (1, 2):
            raise ValueError("process_vm_counters_revision must be 1 or 2")
        self.arch: Arch = arch
        self.pointer_size = 4 if arch == "x86" else 8
        self.full_memory = full_memory
        self.flags = None if flags is None else uint("flags", flags, 64)
        self.time_date_stamp = uint("time_date_stamp", time_date_stamp)
        self.checksum = uint("checksum", checksum)
        self.implementation_version = uint("implementation_version", implementation_version, 16)
        self.stack_rva_mode = stack_rva_mode
        self.thread_list = thread_list
        self.thread_ex_list = thread_ex_list
        self.handle_descriptor_version = handle_descriptor_version
        self.process_vm_counters_revision = process_vm_counters_revision
        self.omit = frozenset(int(t) for t in omit)
        self.unused_directory_entries = uint("unused_directory_entries",
                                              unused_directory_entries, 16)
        vendor = vendor_id.encode("ascii")
        if len(vendor) != 12:
            raise ValueError("vendor_id must be 12 ASCII characters")
        arch_code = _ARCH_CODES[arch] if processor_architecture is None else processor_architecture
        major, minor, build = os_version
        self._system_info = (
            uint("processor_architecture", arch_code, 16),
            uint("processor_level", processor_level, 16),
            uint("processor_revision", processor_revision, 16),
            uint("number_of_processors", number_of_processors, 8),
            uint("product_type", product_type, 8),
            uint("major_version", major),
            uint("minor_version", minor),
            uint("build_number", build),
            uint("platform_id", platform_id),
            uint("suite_mask", suite_mask, 16),
        )
        self.csd_version = csd_version
        self._x86_cpu = (
            *L.CPU_X86.unpack(vendor + bytes(12))[:3],
            uint("version_information", version_information),
            uint("feature_information", feature_information),
            uint("amd_extended_cpu_features", amd_extended_cpu_features),
        )
        self._other_cpu = tuple(uint("processor_features", f, 64) for f in processor_features)
        if len(self._other_cpu) != 2:
            raise ValueError("processor_features must have two entries")
        self._threads: list[ThreadRec] = []
        self._modules: list[ModuleRec] = []
        self._unloaded: list[tuple[str, int, int, int, int]] = []
        self._memory: list[tuple[int, Data]] = []
        self._exception: ExceptionRec | None = None
        self._misc: bytes | None = None
        self._memory_info: list[bytes] = []
        self._thread_info: list[bytes] = []
        self._handles: list[HandleRec] = []
        self._handle_ops: list[bytes] = []
        self._comments: list[tuple[int, bytes]] = []
        self._function_tables: list[FunctionTableRec] = []
        self._system_memory_info: bytes | None = None
        self._vm_counters: bytes | None = None
        self._tokens: list[bytes] = []
        self._raw: list[tuple[int, Data]] = []

    # ----------------------------------------------------------------------------------
    # threads, modules, memory

    def _encode_context(self, context: Context | None) -> bytes:
        if isinstance(context, (bytes, bytearray, memoryview)):
            return bytes(context)
        return encode_context(self.arch, context or {})

    def add_thread(
        self,
        thread_id: int,
        *,
        context: Context | None = None,
        stack: Data | None = None,
        stack_start: int | None = None,
        teb: int = 0,
        suspend_count: int = 0,
        priority_class: int = 0x20,
        priority: int = 0,
        name: str | None = None,
        backing_store: tuple[int, int, int] = (0, 0, 0),
    ) -> None:
        """Add a thread (a MINIDUMP_THREAD, and a ThreadNames entry when named).

        Args:
            thread_id: ThreadId.
            context: register values by lower-case name (see
                ``dumplib.builder.REGISTERS[arch]``), or a raw CONTEXT record as bytes.
            stack: the captured stack memory; it becomes a memory range too.
            stack_start: lowest address of ``stack`` (StartOfMemoryRange); defaults to
                the context's stack pointer.
            teb: Teb address.
            suspend_count: SuspendCount.
            priority_class: PriorityClass.
            priority: Priority.
            name: thread description for the ThreadNamesStream.
            backing_store: ThreadExList BackingStore as (address, size, rva) (IA-64 only;
                zeros elsewhere).

        Raises:
            ValueError: a value does not fit, or the stack has no address.
        """
        raw_context = self._encode_context(context)
        if stack is not None and stack_start is None:
            if isinstance(context, Mapping) and sp_register(self.arch) in context:
                stack_start = context[sp_register(self.arch)]
            else:
                raise ValueError("stack_start is required when the context has no stack pointer")
        self._threads.append(ThreadRec(
            thread_id=uint("thread_id", thread_id),
            context=raw_context,
            stack_start=uint("stack_start", stack_start or 0, 64),
            stack=stack,
            teb=uint("teb", teb, 64),
            suspend_count=uint("suspend_count", suspend_count),
            priority_class=uint("priority_class", priority_class),
            priority=uint("priority", priority),
            name=name,
            backing_store=(uint("backing_store address", backing_store[0], 64),
                           uint("backing_store size", backing_store[1]),
                           uint("backing_store rva", backing_store[2])),
        ))

    def add_module(
        self,
        path: str,
        *,
        base: int,
        size: int,
        time_date_stamp: int = 0,
        checksum: int = 0,
        version: tuple[int, int, int, int] | None = None,
        product_version: tuple[int, int, int, int] | None = None,
        file_flags: int = 0,
        file_os: int = 0x40004,
        file_type: int = 2,
        file_subtype: int = 0,
        pdb70: tuple[str, uuid.UUID | bytes, int] | None = None,
        pdb20: tuple[str, int, int] | None = None,
        cv_record: bytes | None = None,
        misc: bytes | None = None,
        fixed_file_info: bytes | None = None,
    ) -> None:
        """Add a loaded module (a MINIDUMP_MODULE).

        Args:
            path: full path, written as the module's MINIDUMP_STRING name.
            base: BaseOfImage.
            size: SizeOfImage.
            time_date_stamp: TimeDateStamp.
            checksum: CheckSum.
            version: file version (a, b, c, d) for VS_FIXEDFILEINFO; None writes an
                all-zero VS_FIXEDFILEINFO (no signature), as for modules without one.
            product_version: product version; defaults to ``version``.
            file_flags: dwFileFlags.
            file_os: dwFileOS (VOS_NT_WINDOWS32 by default).
            file_type: dwFileType (VFT_DLL by default).
            file_subtype: dwFileSubtype.
            pdb70: (pdb file name, GUID, age) for a CodeView 'RSDS' record.
            pdb20: (pdb file name, signature, age) for a CodeView 'NB10' record.
            cv_record: raw CodeView record bytes (instead of pdb70/pdb20).
            misc: raw MiscRecord bytes (IMAGE_DEBUG_MISC).
            fixed_file_info: a raw 52-byte VS_FIXEDFILEINFO, written verbatim instead of
                one made from ``version`` and the ``file_*`` arguments.

        Raises:
            ValueError: a value does not fit, or more than one CodeView source given.
        """
        if sum(x is not None for x in (pdb70, pdb20, cv_record)) > 1:
            raise ValueError("give at most one of pdb70, pdb20, cv_record")
        if pdb70 is not None:
            name, guid, age = pdb70
            guid_bytes = guid.bytes_le if isinstance(guid, uuid.UUID) else bytes(guid)
            if len(guid_bytes) != 16:
                raise ValueError("pdb70 GUID must be 16 bytes")
            cv_record = (L.CV_PDB70.pack(L.CV_PDB70_SIGNATURE, guid_bytes, uint("age", age))
                         + name.encode("utf-8") + b"\0")
        elif pdb20 is not None:
            name, signature, age = pdb20
            cv_record = (L.CV_PDB20.pack(L.CV_PDB20_SIGNATURE, 0, uint("signature", signature),
                                         uint("age", age)) + name.encode("utf-8") + b"\0")
        if fixed_file_info is not None:
            if len(fixed_file_info) != L.VS_FIXEDFILEINFO.size:
                raise ValueError("fixed_file_info must be 52 bytes")
            version_info = bytes(fixed_file_info)
        elif version is None:
            version_info = bytes(L.VS_FIXEDFILEINFO.size)
        else:
            file_ms, file_ls = version_words("version", version)
            prod_ms, prod_ls = version_words("product_version", product_version or version)
            version_info = L.VS_FIXEDFILEINFO.pack(
                L.VS_FIXEDFILEINFO_SIGNATURE, 0x00010000, file_ms, file_ls, prod_ms, prod_ls,
                0x3F, uint("file_flags", file_flags), uint("file_os", file_os),
                uint("file_type", file_type), uint("file_subtype", file_subtype), 0, 0,
            )
        self._modules.append(ModuleRec(
            path=path, base=uint("base", base, 64), size=uint("size", size),
            checksum=uint("checksum", checksum),
            time_date_stamp=uint("time_date_stamp", time_date_stamp),
            version_info=version_info, cv_record=cv_record, misc_record=misc,
        ))

    def add_unloaded_module(
        self, path: str, *, base: int, size: int, time_date_stamp: int = 0, checksum: int = 0
    ) -> None:
        """Add an unloaded module (a MINIDUMP_UNLOADED_MODULE).

        Args:
            path: module name as recorded.
            base: BaseOfImage.
            size: SizeOfImage.
            time_date_stamp: TimeDateStamp.
            checksum: CheckSum.
        """
        self._unloaded.append((path, uint("base", base, 64), uint("size", size),
                               uint("checksum", checksum),
                               uint("time_date_stamp", time_date_stamp)))

    def add_memory(self, address: int, data: Data) -> None:
        """Capture ``data`` at virtual ``address`` (one memory range).

        Args:
            address: StartOfMemoryRange.
            data: the bytes, or a :class:`Sparse` zero run with patches (written as a
                file hole).
        """
        self._memory.append((uint("address", address, 64), data))

    # ----------------------------------------------------------------------------------
    # exception, misc info, system streams

    def set_exception(
        self,
        thread_id: int,
        code: int,
        address: int,
        *,
        parameters: Sequence[int] = (),
        flags: int = 0,
        exception_record: int = 0,
        nested: Sequence[NestedException] = (),
        nested_address: int | None = None,
        context: Context | None = None,
    ) -> None:
        """Set the ExceptionStream.

        Args:
            thread_id: ThreadId of the faulting thread.
            code: ExceptionCode.
            address: ExceptionAddress.
            parameters: ExceptionInformation (at most 15).
            flags: ExceptionFlags.
            exception_record: ExceptionRecord pointer, when ``nested`` is not used.
            nested: the chain of inner exception records; they are written into
                process memory at ``nested_address`` as native EXCEPTION_RECORDs
                (64- or 32-bit by arch), each pointing at the next, and
                ExceptionRecord points at the first.
            nested_address: where the nested chain lives (required with ``nested``).
            context: the exception context; by default the thread's own CONTEXT record
                is referenced.

        Raises:
            ValueError: too many parameters, a value that does not fit, or nested
                records without an address.
        """
        params = tuple(uint("parameter", p, 64) for p in parameters)
        if len(params) > L.EXCEPTION_MAXIMUM_PARAMETERS:
            raise ValueError("at most 15 exception parameters")
        record = uint("exception_record", exception_record, 64)
        if nested:
            if nested_address is None:
                raise ValueError("nested exceptions need nested_address")
            record = nested_address
            self.add_memory(nested_address, nested_chain(self.pointer_size, nested, nested_address))
        self._exception = ExceptionRec(
            thread_id=uint("thread_id", thread_id), code=uint("code", code),
            flags=uint("flags", flags), record=record, address=uint("address", address, 64),
            parameters=params,
            context=None if context is None else self._encode_context(context),
        )

    def set_misc_info(
        self,
        *,
        level: int | None = None,
        flags1: int | None = None,
        process_id: int | None = None,
        process_create_time: int | None = None,
        process_user_time: int | None = None,
        process_kernel_time: int | None = None,
        processor_max_mhz: int | None = None,
        processor_current_mhz: int | None = None,
        processor_mhz_limit: int | None = None,
        processor_max_idle_state: int | None = None,
        processor_current_idle_state: int | None = None,
        process_integrity_level: int | None = None,
        process_execute_flags: int | None = None,
        protected_process: int | None = None,
        time_zone_id: int | None = None,
        time_zone: TimeZone | None = None,
        build_string: str | None = None,
        dbg_bld_str: str | None = None,
        xstate_data: XStateConfig | None = None,
        process_cookie: int | None = None,
    ) -> None:
        """Set the MiscInfoStream (MINIDUMP_MISC_INFO, _2, _3, _4 or _5).

        Each group of fields that is given sets its Flags1 bit (PROCESS_ID,
        PROCESS_TIMES, PROCESSOR_POWER_INFO, PROCESS_INTEGRITY, PROCESS_EXECUTE_FLAGS,
        TIMEZONE, PROTECTED_PROCESS, BUILDSTRING, PROCESS_COOKIE); fields of a group
        that are not given are 0.

        Args:
            level: 1 to 5 (sizes 24, 44, 232, 832, 1364); by default the smallest
                level that holds every field given.
            flags1: override the computed Flags1.
            process_id: ProcessId.
            process_create_time: ProcessCreateTime (time_t seconds).
            process_user_time: ProcessUserTime (seconds).
            process_kernel_time: ProcessKernelTime (seconds).
            processor_max_mhz: ProcessorMaxMhz.
            processor_current_mhz: ProcessorCurrentMhz.
            processor_mhz_limit: ProcessorMhzLimit.
            processor_max_idle_state: ProcessorMaxIdleState.
            processor_current_idle_state: ProcessorCurrentIdleState.
            process_integrity_level: ProcessIntegrityLevel.
            process_execute_flags: ProcessExecuteFlags.
            protected_process: ProtectedProcess.
            time_zone_id: TimeZoneId.
            time_zone: TimeZone.
            build_string: BuildString (up to 259 characters).
            dbg_bld_str: DbgBldStr (up to 39 characters).
            xstate_data: XStateData (level 5).
            process_cookie: ProcessCookie (level 5).

        Raises:
            ValueError: a field beyond the requested level, or a value that does not fit.
        """
        f = L.MiscInfoFlags
        groups: list[tuple[int, int, Sequence[object]]] = [
            (1, f.PROCESS_ID, (process_id,)),
            (1, f.PROCESS_TIMES, (process_create_time, process_user_time, process_kernel_time)),
            (2, f.PROCESSOR_POWER_INFO, (processor_max_mhz, processor_current_mhz,
                                         processor_mhz_limit, processor_max_idle_state,
                                         processor_current_idle_state)),
            (3, f.PROCESS_INTEGRITY, (process_integrity_level,)),
            (3, f.PROCESS_EXECUTE_FLAGS, (process_execute_flags,)),
            (3, f.PROTECTED_PROCESS, (protected_process,)),
            (3, f.TIMEZONE, (time_zone_id, time_zone)),
            (4, f.BUILDSTRING, (build_string, dbg_bld_str)),
            (5, f.PROCESS_COOKIE, (process_cookie,)),
            (5, 0, (xstate_data,)),
        ]
        needed, computed = 1, 0
        for group_level, bit, values in groups:
            if any(v is not None for v in values):
                needed = max(needed, group_level)
                computed |= bit
        if level is None:
            level = needed
        if level not in L.MISC_INFO_SIZES:
            raise ValueError("misc info level must be 1..5")
        if needed > level:
            raise ValueError(f"fields given need misc info level {needed}, not {level}")
        size = L.MISC_INFO_SIZES[level]

        def u(name: str, value: int | None) -> int:
            return 0 if value is None else uint(name, value)

        buf = L.MISC_HEAD.pack(
            size, uint("flags1", computed if flags1 is None else flags1),
            u("process_id", process_id), u("process_create_time", process_create_time),
            u("process_user_time", process_user_time),
            u("process_kernel_time", process_kernel_time),
            u("processor_max_mhz", processor_max_mhz),
            u("processor_current_mhz", processor_current_mhz),
            u("processor_mhz_limit", processor_mhz_limit),
            u("processor_max_idle_state", processor_max_idle_state),
            u("processor_current_idle_state", processor_current_idle_state),
        )
        buf += L.MISC3_HEAD.pack(
            u("process_integrity_level", process_integrity_level),
            u("process_execute_flags", process_execute_flags),
            u("protected_process", protected_process), u("time_zone_id", time_zone_id),
        )
        buf += time_zone_bytes(time_zone or TimeZone())
        buf += wchar_array("build_string", build_string or "", 260)
        buf += wchar_array("dbg_bld_str", dbg_bld_str or "", 40)
        buf += xstate_bytes(xstate_data or XStateConfig())
        buf += L.U32.pack(u("process_cookie", process_cookie))
        assert len(buf) == L.MISC_INFO_SIZES[5]
        self._misc = buf[:size]

    def add_memory_info(
        self,
        base_address: int,
        region_size: int,
        *,
        allocation_base: int | None = None,
        allocation_protect: int = 0x04,
        state: int = 0x1000,
        protect: int = 0x04,
        type: int = 0x20000,
    ) -> None:
        """Add a MINIDUMP_MEMORY_INFO (MemoryInfoListStream) entry.

        Args:
            base_address: BaseAddress.
            region_size: RegionSize.
            allocation_base: AllocationBase (defaults to ``base_address``).
            allocation_protect: AllocationProtect (PAGE_READWRITE by default).
            state: State (MEM_COMMIT by default).
            protect: Protect (PAGE_READWRITE by default).
            type: Type (MEM_PRIVATE by default).
        """
        self._memory_info.append(L.MEMORY_INFO.pack(
            uint("base_address", base_address, 64),
            uint("allocation_base", base_address if allocation_base is None
                  else allocation_base, 64),
            uint("allocation_protect", allocation_protect), 0,
            uint("region_size", region_size, 64), uint("state", state),
            uint("protect", protect), uint("type", type), 0,
        ))

    def add_thread_info(
        self,
        thread_id: int,
        *,
        dump_flags: int = 0,
        dump_error: int = 0,
        exit_status: int = 0,
        create_time: int = 0,
        exit_time: int = 0,
        kernel_time: int = 0,
        user_time: int = 0,
        start_address: int = 0,
        affinity: int = 0,
    ) -> None:
        """Add a MINIDUMP_THREAD_INFO (ThreadInfoListStream) entry; times are FILETIMEs."""
        self._thread_info.append(L.THREAD_INFO.pack(
            uint("thread_id", thread_id), uint("dump_flags", dump_flags),
            uint("dump_error", dump_error), uint("exit_status", exit_status),
            uint("create_time", create_time, 64), uint("exit_time", exit_time, 64),
            uint("kernel_time", kernel_time, 64), uint("user_time", user_time, 64),
            uint("start_address", start_address, 64), uint("affinity", affinity, 64),
        ))

    def add_handle(
        self,
        handle: int,
        *,
        type_name: str | None = None,
        object_name: str | None = None,
        attributes: int = 0,
        granted_access: int = 0,
        handle_count: int = 0,
        pointer_count: int = 0,
        object_info: Sequence[tuple[int, bytes]] = (),
    ) -> None:
        """Add a handle descriptor (HandleDataStream).

        Args:
            handle: Handle value.
            type_name: TypeName (e.g. ``"Event"``); None writes Rva 0.
            object_name: ObjectName; None writes Rva 0.
            attributes: Attributes.
            granted_access: GrantedAccess.
            handle_count: HandleCount.
            pointer_count: PointerCount.
            object_info: (InfoType, data) MINIDUMP_HANDLE_OBJECT_INFORMATION records,
                chained through NextInfoRva (descriptor version 2 only).
        """
        if object_info and self.handle_descriptor_version != 2:
            raise ValueError("object_info needs handle_descriptor_version=2")
        self._handles.append(HandleRec(
            handle=uint("handle", handle, 64), type_name=type_name, object_name=object_name,
            attributes=uint("attributes", attributes),
            granted_access=uint("granted_access", granted_access),
            handle_count=uint("handle_count", handle_count),
            pointer_count=uint("pointer_count", pointer_count),
            object_info=tuple((uint("info_type", t), bytes(d)) for t, d in object_info),
        ))

    def add_handle_operation(
        self,
        handle: int,
        *,
        process_id: int = 0,
        thread_id: int = 0,
        operation_type: int = 1,
        back_trace: Sequence[int] = (),
        back_trace_index: int = 0,
    ) -> None:
        """Add an AVRF_HANDLE_OPERATION (HandleOperationListStream) entry.

        Args:
            handle: Handle.
            process_id: ProcessId.
            thread_id: ThreadId.
            operation_type: OperationType (1 open, 2 close, 3 bad reference).
            back_trace: up to 32 return addresses (Depth is their count).
            back_trace_index: BackTraceInformation.Index.
        """
        trace = tuple(uint("back_trace", a, 64) for a in back_trace)
        if len(trace) > L.AVRF_MAX_TRACES:
            raise ValueError("at most 32 back-trace addresses")
        self._handle_ops.append(L.AVRF_HANDLE_OPERATION.pack(
            uint("handle", handle, 64), uint("process_id", process_id),
            uint("thread_id", thread_id), uint("operation_type", operation_type), 0,
            len(trace), uint("back_trace_index", back_trace_index),
            *trace, *(0,) * (L.AVRF_MAX_TRACES - len(trace)),
        ))

    def add_comment(self, text: str, *, wide: bool = True) -> None:
        """Add a CommentStreamW (UTF-16LE) or CommentStreamA (ANSI), NUL-terminated.

        Args:
            text: the comment.
            wide: True for CommentStreamW, False for CommentStreamA (text must be
                encodable as latin-1).
        """
        if wide:
            self._comments.append((L.StreamType.COMMENT_W, text.encode("utf-16-le") + b"\0\0"))
        else:
            self._comments.append((L.StreamType.COMMENT_A, text.encode("latin-1") + b"\0"))

    def add_function_table(
        self,
        minimum_address: int,
        maximum_address: int,
        base_address: int,
        *,
        entries: Sequence[tuple[int, ...]] = (),
        native_descriptor: bytes | None = None,
    ) -> None:
        """Add a dynamic function table (FunctionTableStream descriptor).

        Args:
            minimum_address: MinimumAddress of the code the table covers.
            maximum_address: MaximumAddress.
            base_address: BaseAddress the entries' RVAs are relative to.
            entries: RUNTIME_FUNCTIONs: (begin, end, unwind_info) on amd64,
                (begin, unwind_data) on arm64.
            native_descriptor: the native DYNAMIC_FUNCTION_TABLE bytes; on amd64 the
                default is an 88-byte DYNAMIC_FUNCTION_TABLE with the addresses and
                entry count filled in, elsewhere empty. All tables of a dump must use
                the same native descriptor size.
        """
        if self.arch == "amd64":
            shape = L.RUNTIME_FUNCTION_AMD64
        elif self.arch == "arm64":
            shape = L.RUNTIME_FUNCTION_ARM64
        else:
            raise ValueError("function tables are written for amd64 and arm64 only")
        packed = b"".join(shape.pack(*(uint("runtime function", v) for v in e))
                          for e in entries)
        lo = uint("minimum_address", minimum_address, 64)
        hi = uint("maximum_address", maximum_address, 64)
        base = uint("base_address", base_address, 64)
        if native_descriptor is None:
            native_descriptor = (L.DYNAMIC_FUNCTION_TABLE_AMD64.pack(
                0, 0, 0, 0, lo, hi, base, 0, 0, 0, 0, len(entries))
                if self.arch == "amd64" else b"")
        if self._function_tables and (len(self._function_tables[0].native_descriptor)
                                      != len(native_descriptor)):
            raise ValueError("all function tables need the same native descriptor size")
        self._function_tables.append(FunctionTableRec(lo, hi, base, bytes(native_descriptor),
                                                    packed, len(entries)))

    def set_system_memory_info(self, **fields: int) -> None:
        """Set the SystemMemoryInfoStream (MINIDUMP_SYSTEM_MEMORY_INFO_1, 492 bytes).

        Keyword names are the snake_case of the flattened field names, with nested
        structures prefixed by their member: ``revision``, ``flags``,
        ``basic_info_page_size``, ``file_cache_info_current_size``,
        ``basic_perf_info_available_pages``, ``perf_info_system_calls`` ... (see
        ``_layouts.SYSTEM_MEMORY_INFO_1_FIELDS``). Missing fields are 0, ``revision``
        defaults to 1.

        Raises:
            ValueError: unknown field name or a value that does not fit.
        """
        values = {"revision": 1, **fields}
        names = [L.snake_case(n) for n, _ in L.SYSTEM_MEMORY_INFO_1_FIELDS]
        unknown = set(values) - set(names)
        if unknown:
            raise ValueError(f"unknown system memory info fields: {sorted(unknown)}")
        bits = {"H": 16, "I": 32, "Q": 64, "q": 64}
        packed: list[int] = []
        for (_, code), name in zip(L.SYSTEM_MEMORY_INFO_1_FIELDS, names, strict=True):
            v = values.get(name, 0)
            packed.append(sint(name, v, 64) if code == "q" else uint(name, v, bits[code]))
        self._system_memory_info = L.SYSTEM_MEMORY_INFO_1.pack(*packed)

    def set_process_vm_counters(self, *, flags: int | None = None, **fields: int) -> None:
        """Set the ProcessVmCountersStream (revision from ``process_vm_counters_revision``).

        Keyword names are the snake_case of the structure's fields: ``page_fault_count``,
        ``peak_working_set_size``, ``working_set_size``, ... ``private_usage`` and, for
        revision 2, ``peak_virtual_size``, ``virtual_size``, ``private_working_set_size``,
        ``shared_commit_usage`` and the ``job_*`` counters. Missing fields are 0.

        Args:
            flags: revision 2 Flags; by default the MINIDUMP_PROCESS_VM_COUNTERS bits
                for the groups given (base, VIRTUALSIZE, EX, EX2, JOB).
            **fields: counter values.

        Raises:
            ValueError: unknown field name or a value that does not fit.
        """
        rev = self.process_vm_counters_revision
        names = [L.snake_case(n) for n in
                 (L.VM_COUNTERS_1_FIELDS if rev == 1 else L.VM_COUNTERS_2_FIELDS)]
        unknown = set(fields) - set(names)
        if unknown:
            raise ValueError(f"unknown process VM counters for revision {rev}: {sorted(unknown)}")
        vals = [uint(n, fields.get(n, 0), 32 if n == "page_fault_count" else 64) for n in names]
        if rev == 1:
            self._vm_counters = L.VM_COUNTERS_1.pack(1, *vals)
            return
        if flags is None:
            flags = L.VM_COUNTERS_FLAG_BASE
            if {"peak_virtual_size", "virtual_size"} & fields.keys():
                flags |= L.VM_COUNTERS_FLAG_VIRTUALSIZE
            if "private_usage" in fields:
                flags |= L.VM_COUNTERS_FLAG_EX
            if {"private_working_set_size", "shared_commit_usage"} & fields.keys():
                flags |= L.VM_COUNTERS_FLAG_EX2
            if any(n.startswith("job_") for n in fields):
                flags |= L.VM_COUNTERS_FLAG_JOB
        self._vm_counters = L.VM_COUNTERS_2.pack(2, uint("flags", flags, 16), *vals)

    def add_token(self, token_id: int, token_handle: int, data: bytes = b"") -> None:
        """Add a MINIDUMP_TOKEN_INFO_HEADER entry (TokenStream) followed by ``data``.

        Args:
            token_id: TokenId (the process or thread id the token was opened for).
            token_handle: TokenHandle.
            data: the token information bytes after the header.
        """
        self._tokens.append(L.TOKEN_INFO_HEADER.pack(
            uint("token size", L.TOKEN_INFO_HEADER.size + len(data)),
            uint("token_id", token_id), uint("token_handle", token_handle, 64)) + data)

    def add_raw_stream(self, stream_type: int, data: Data) -> None:
        """Add a stream written verbatim (vendor streams such as 0xFFF0, 0x47670001).

        Args:
            stream_type: the directory entry's StreamType.
            data: its contents.
        """
        self._raw.append((uint("stream_type", stream_type), data))

    # ----------------------------------------------------------------------------------
    # layout

    def computed_flags(self) -> int:
        """Return the header Flags that will be written (explicit ``flags`` wins)."""
        if self.flags is not None:
            return self.flags
        f = L.DumpFlags
        flags = f.NORMAL
        if self.full_memory:
            flags |= f.WITH_FULL_MEMORY
        if self._handles:
            flags |= f.WITH_HANDLE_DATA
        if self._unloaded:
            flags |= f.WITH_UNLOADED_MODULES
        if self._memory_info:
            flags |= f.WITH_FULL_MEMORY_INFO
        if self._thread_info:
            flags |= f.WITH_THREAD_INFO
        if self._tokens:
            flags |= f.WITH_TOKEN_INFORMATION
        if self._misc is not None and len(self._misc) > L.MISC_INFO_SIZES[1]:
            flags |= f.WITH_PROCESS_THREAD_DATA
        return int(flags)

    def _memory_ranges(self) -> list[tuple[int, Data]]:
        ranges = list(self._memory)
        ranges += [(t.stack_start, t.stack) for t in self._threads if t.stack is not None]
        ranges.sort(key=lambda r: r[0])
        end = 0
        for i, (address, data) in enumerate(ranges):
            if address + len(data) > _U64:
                raise ValueError(f"memory range at {address:#x} runs past 2**64")
            if i and address < end:
                raise ValueError(f"memory range at {address:#x} overlaps the previous one")
            end = address + len(data)
        return ranges

    def build(self) -> BuiltDump:
        """Lay the dump out and return it with a map of every stream and memory range.

        Raises:
            ValueError: overlapping memory, or data that 32-bit RVAs cannot reach.
        """
        ranges = self._memory_ranges()
        mem_base = StreamWriter(self, ranges, 0).measure()
        return StreamWriter(self, ranges, mem_base).run()

    def to_bytes(self) -> bytes:
        """Return the dump in memory (use :meth:`write` for large or sparse dumps)."""
        return self.build().to_bytes()

    def write(self, target: str | os.PathLike[str] | BinaryIO) -> BuiltDump:
        """Write the dump to a path or seekable binary file; zero runs become holes.

        Returns:
            The :class:`BuiltDump` map of what was written where.
        """
        built = self.build()
        built.write(target)
        return built
