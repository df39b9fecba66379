"""Decoding the dump's exception: access-violation kind and target, fail-fast
subcodes, C++ thrown types, CLR managed types, first/second chance, nested records.

:func:`summarize_exception` turns ``dump.exception`` into an
:class:`~dumplib.analysis.model.ExceptionSummary`. Nothing here raises for bad
memory: what cannot be read is left out.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence

from dumplib._exc import DumpError
from dumplib.analysis.model import ExceptionSummary, NestedException
from dumplib.codes import CodeTable, lookup, name_of_exception
from dumplib.model.dump import DumpFile

__all__ = [
    "CLR_EXCEPTION",
    "CLR_EXCEPTION_V2",
    "CXX_EXCEPTION",
    "FAST_FAIL_CODES",
    "GCC_CXX_EXCEPTION",
    "STATUS_ACCESS_VIOLATION",
    "STATUS_HEAP_CORRUPTION",
    "STATUS_IN_PAGE_ERROR",
    "STATUS_STACK_BUFFER_OVERRUN",
    "STATUS_STACK_OVERFLOW",
    "chance_from_comments",
    "cxx_thrown_types",
    "exception_kind",
    "gcc_thrown_type",
    "managed_type_from_comments",
    "summarize_exception",
    "undecorate_type",
]

STATUS_ACCESS_VIOLATION = 0xC0000005
STATUS_IN_PAGE_ERROR = 0xC0000006
STATUS_STACK_OVERFLOW = 0xC00000FD
STATUS_HEAP_CORRUPTION = 0xC0000374
STATUS_STACK_BUFFER_OVERRUN = 0xC0000409  # __fastfail / GS failures
STATUS_BREAKPOINT = 0x80000003
STATUS_WX86_BREAKPOINT = 0x4000001F
CXX_EXCEPTION = 0xE06D7363  # 'msc' | 0xE0000000
GCC_CXX_EXCEPTION = 0x20474343  # STATUS_GCC_THROW: libgcc's SEH unwinder ('GCC ')
_GNU_CXX_CLASS = 0x474E5543432B2B00  # _Unwind_Exception.exception_class "GNUCC++\0"
_GNU_CXX_DEPENDENT = 0x474E5543432B2B01  # "GNUCC++\x01": std::rethrow_exception
CLR_EXCEPTION = 0xE0434352  # 'CCR': .NET 4 and later
CLR_EXCEPTION_V2 = 0xE0434F4D  # 'COM': .NET 1-3.5
CXX_MAGICS = (0x19930520, 0x19930521, 0x19930522)

#: FAST_FAIL_* codes (winnt.h of the Windows SDK): parameters[0] of 0xC0000409.
FAST_FAIL_CODES: dict[int, str] = {
    0: "FAST_FAIL_LEGACY_GS_VIOLATION",
    1: "FAST_FAIL_VTGUARD_CHECK_FAILURE",
    2: "FAST_FAIL_STACK_COOKIE_CHECK_FAILURE",
    3: "FAST_FAIL_CORRUPT_LIST_ENTRY",
    4: "FAST_FAIL_INCORRECT_STACK",
    5: "FAST_FAIL_INVALID_ARG",
    6: "FAST_FAIL_GS_COOKIE_INIT",
    7: "FAST_FAIL_FATAL_APP_EXIT",
    8: "FAST_FAIL_RANGE_CHECK_FAILURE",
    9: "FAST_FAIL_UNSAFE_REGISTRY_ACCESS",
    10: "FAST_FAIL_GUARD_ICALL_CHECK_FAILURE",
    11: "FAST_FAIL_GUARD_WRITE_CHECK_FAILURE",
    12: "FAST_FAIL_INVALID_FIBER_SWITCH",
    13: "FAST_FAIL_INVALID_SET_OF_CONTEXT",
    14: "FAST_FAIL_INVALID_REFERENCE_COUNT",
    18: "FAST_FAIL_INVALID_JUMP_BUFFER",
    19: "FAST_FAIL_MRDATA_MODIFIED",
    20: "FAST_FAIL_CERTIFICATION_FAILURE",
    21: "FAST_FAIL_INVALID_EXCEPTION_CHAIN",
    22: "FAST_FAIL_CRYPTO_LIBRARY",
    23: "FAST_FAIL_INVALID_CALL_IN_DLL_CALLOUT",
    24: "FAST_FAIL_INVALID_IMAGE_BASE",
    25: "FAST_FAIL_DLOAD_PROTECTION_FAILURE",
    26: "FAST_FAIL_UNSAFE_EXTENSION_CALL",
    27: "FAST_FAIL_DEPRECATED_SERVICE_INVOKED",
    28: "FAST_FAIL_INVALID_BUFFER_ACCESS",
    29: "FAST_FAIL_INVALID_BALANCED_TREE",
    30: "FAST_FAIL_INVALID_NEXT_THREAD",
    31: "FAST_FAIL_GUARD_ICALL_CHECK_SUPPRESSED",
    32: "FAST_FAIL_APCS_DISABLED",
    33: "FAST_FAIL_INVALID_IDLE_STATE",
    34: "FAST_FAIL_MRDATA_PROTECTION_FAILURE",
    35: "FAST_FAIL_UNEXPECTED_HEAP_EXCEPTION",
    36: "FAST_FAIL_INVALID_LOCK_STATE",
    37: "FAST_FAIL_GUARD_JUMPTABLE",
    38: "FAST_FAIL_INVALID_LONGJUMP_TARGET",
    39: "FAST_FAIL_INVALID_DISPATCH_CONTEXT",
    40: "FAST_FAIL_INVALID_THREAD",
    41: "FAST_FAIL_INVALID_SYSCALL_NUMBER",
    42: "FAST_FAIL_INVALID_FILE_OPERATION",
    43: "FAST_FAIL_LPAC_ACCESS_DENIED",
    44: "FAST_FAIL_GUARD_SS_FAILURE",
    45: "FAST_FAIL_LOADER_CONTINUITY_FAILURE",
    46: "FAST_FAIL_GUARD_EXPORT_SUPPRESSION_FAILURE",
    47: "FAST_FAIL_INVALID_CONTROL_STACK",
    48: "FAST_FAIL_SET_CONTEXT_DENIED",
    49: "FAST_FAIL_INVALID_IAT",
    50: "FAST_FAIL_HEAP_METADATA_CORRUPTION",
    51: "FAST_FAIL_PAYLOAD_RESTRICTION_VIOLATION",
    52: "FAST_FAIL_LOW_LABEL_ACCESS_DENIED",
    53: "FAST_FAIL_ENCLAVE_CALL_FAILURE",
    54: "FAST_FAIL_UNHANDLED_LSS_EXCEPTON",
    55: "FAST_FAIL_ADMINLESS_ACCESS_DENIED",
    56: "FAST_FAIL_UNEXPECTED_CALL",
    57: "FAST_FAIL_CONTROL_INVALID_RETURN_ADDRESS",
    58: "FAST_FAIL_UNEXPECTED_HOST_BEHAVIOR",
    59: "FAST_FAIL_FLAGS_CORRUPTION",
    60: "FAST_FAIL_VEH_CORRUPTION",
    61: "FAST_FAIL_ETW_CORRUPTION",
    62: "FAST_FAIL_RIO_ABORT",
    63: "FAST_FAIL_INVALID_PFN",
    0xFFFFFFFF: "FAST_FAIL_INVALID_FAST_FAIL_CODE",
}

_ACCESS = {0: "read", 1: "write", 8: "execute"}
_NULL_PAGE_LIMIT = 0x10000  # the first 64 KiB are never mapped
_MAX_CATCHABLE = 64  # cap on CatchableTypeArray entries read
_MAX_TYPE_NAME = 1024

_KIND = {
    STATUS_ACCESS_VIOLATION: "access_violation",
    STATUS_IN_PAGE_ERROR: "in_page_error",
    STATUS_STACK_OVERFLOW: "stack_overflow",
    STATUS_HEAP_CORRUPTION: "heap_corruption",
    STATUS_STACK_BUFFER_OVERRUN: "fail_fast",
    CXX_EXCEPTION: "cxx",
    GCC_CXX_EXCEPTION: "cxx",
    CLR_EXCEPTION: "clr",
    CLR_EXCEPTION_V2: "clr",
    STATUS_BREAKPOINT: "breakpoint",
    STATUS_WX86_BREAKPOINT: "breakpoint",
}


def exception_kind(code: int) -> str:
    """The kind of an exception code (see :class:`ExceptionSummary`)."""
    return _KIND.get(code & 0xFFFFFFFF, "other")


def _message(code: int) -> str:
    for table in (CodeTable.NTSTATUS, CodeTable.EXCEPTION, CodeTable.HRESULT):
        for m in lookup(code):
            if m.table is table and m.message:
                return m.message
    return ""


_PRINTF = re.compile(r"%(?:0?\d*)?l?[xXdusp]")
_ACCESS_WORD = {"read": "read", "write": "written", "execute": "executed"}


def fill_message(template: str, values: Sequence[int | str]) -> str:
    """Fill the printf-style placeholders of a message text (``%08lx``, ``%s`` ...) in
    order with ``values``, as the event viewer does; extra placeholders stay as they are.

    >>> fill_message("at 0x%08lx, could not be %s.", [0x10, "read"])
    'at 0x00000010, could not be read.'
    """
    it = iter(values)

    def one(m: re.Match[str]) -> str:
        value = next(it, None)
        if value is None:
            return m.group(0)
        spec = m.group(0).replace("p", "x")
        try:
            return spec % value
        except TypeError:
            return str(value)

    return _PRINTF.sub(one, template)


_TYPE_PREFIX = re.compile(r"^\.\?A([VUT]|W4)")


def undecorate_type(decorated: str) -> str:
    """Undecorate an RTTI type name: ``".?AVbad_alloc@std@@"`` -> ``"std::bad_alloc"``.

    Names this simple reader does not understand (templates, ``?$``) come back
    with only the ``.?AV`` prefix removed; primitive type codes (``".H"`` int)
    are named.
    """
    primitives = {".H": "int", ".I": "unsigned int", ".J": "long", ".K": "unsigned long",
                  ".N": "double", ".M": "float", ".D": "char", ".E": "unsigned char",
                  ".F": "short", ".G": "unsigned short", ".PEAD": "char *", ".PEBD": "const char *",
                  ".PAD": "char *", ".PBD": "const char *", ".PEA_W": "wchar_t *",
                  ".PEB_W": "const wchar_t *", "._J": "__int64", ".PEAX": "void *",
                  ".PAX": "void *"}
    if decorated in primitives:
        return primitives[decorated]
    m = _TYPE_PREFIX.match(decorated)
    if not m:
        return decorated
    body = decorated[m.end():]
    if "?" in body or not body.endswith("@@"):
        return body
    parts = [p for p in body[:-2].split("@") if p]
    return "::".join(reversed(parts)) if parts else body


def cxx_thrown_types(dump: DumpFile, parameters: Sequence[int]) -> tuple[str, ...]:
    """Type names of a C++ exception's CatchableTypeArray (most derived first).

    Follows ThrowInfo -> CatchableTypeArray -> CatchableType -> TypeDescriptor
    in the dump's memory. On x64 the links are 32-bit RVAs relative to the
    throwing image's base (``parameters[3]``); on x86 they are pointers.

    Returns:
        The names, or an empty tuple when the record is not an MSVC C++ throw or
        the memory is not in the dump.
    """
    if len(parameters) < 3 or parameters[0] not in CXX_MAGICS:
        return ()
    mem = dump.memory
    ptr_size = dump.system.pointer_size
    throw_info = parameters[2]
    image_base = parameters[3] if ptr_size == 8 and len(parameters) >= 4 else 0
    if ptr_size == 8 and not image_base:
        return ()

    def link(value: int) -> int:
        return image_base + value if ptr_size == 8 else value

    try:
        # ThrowInfo: attributes, pmfnUnwind, pForwardCompat, pCatchableTypeArray.
        cta = link(mem.read_u32(throw_info + 12))
        count = mem.read_u32(cta)
        if count > _MAX_CATCHABLE:
            return ()
        entries = struct.unpack(f"<{count}I", mem.read(cta + 4, 4 * count))
        names: list[str] = []
        for entry in entries:
            # CatchableType: properties, pType, thisDisplacement(12), sizeOrOffset, copyFunction.
            td = link(mem.read_u32(link(entry) + 4))
            # TypeDescriptor: pVFTable, spare, name[].
            raw = mem.read_cstring(td + 2 * ptr_size, _MAX_TYPE_NAME)
            if raw:
                names.append(undecorate_type(raw))
        return tuple(names)
    except DumpError:
        return ()


def _itanium_type(name: str) -> str:
    """Demangle a libstdc++ type_info name: ``St13runtime_error`` -> ``std::runtime_error``."""
    pos = 0
    parts: list[str] = []
    if name.startswith("St"):
        parts.append("std")
        pos = 2
    elif name.startswith("N"):
        pos = 1
        if name.startswith("St", pos):
            parts.append("std")
            pos += 2
    while pos < len(name) and name[pos].isdigit():
        end = pos
        while end < len(name) and name[end].isdigit():
            end += 1
        length = int(name[pos:end])
        if length <= 0 or end + length > len(name):
            return name
        parts.append(name[end : end + length])
        pos = end + length
    return "::".join(parts) if len(parts) > (1 if parts[:1] == ["std"] else 0) else name


def gcc_thrown_type(dump: DumpFile, parameters: Sequence[int]) -> str | None:
    """The type thrown through libgcc's SEH unwinder (STATUS_GCC_THROW), when memory holds it.

    ``parameters[0]`` points at the ``_Unwind_Exception`` inside libstdc++'s
    ``__cxa_exception``; its ``exception_class`` must read ``"GNUCC++\0"``. The
    ``std::type_info *`` sits ten pointers before it, and the type_info's name
    (``St13runtime_error``) follows its vtable pointer.
    """
    if not parameters:
        return None
    mem = dump.memory
    ps = dump.system.pointer_size
    header = parameters[0]
    try:
        if mem.read_u64(header) != _GNU_CXX_CLASS:
            return None
        type_info = mem.read_pointer(header - 10 * ps)
        raw = mem.read_cstring(mem.read_pointer(type_info + ps), _MAX_TYPE_NAME)
    except DumpError:
        return None
    return _itanium_type(raw.lstrip("*")) if raw else None


_MANAGED_TYPE = re.compile(
    r"(?<![\w.])(?:[0-9A-Fa-f]{8}\.)?((?:[A-Za-z_][\w`]*\.)+[A-Za-z_]\w*Exception)\b"
)
_CLR_CODE_TEXT = re.compile(r"\b(E0434352|E0434F4D)\b", re.IGNORECASE)


def managed_type_from_comments(comments: Sequence[str]) -> str | None:
    """The managed exception type named in procdump's comment (``System.NullReferenceException``).

    procdump writes its command line (``-f NullReferenceException`` filters) and
    the exception it triggered on (``E0434F4D.System.NullReferenceException``).
    A fully qualified name wins over a bare filter word.
    """
    for text in comments:
        m = _MANAGED_TYPE.search(text)
        if m:
            return m.group(1)
    for text in comments:
        m = re.search(r"-f\s+\"?([A-Za-z_][\w.]*Exception)\b", text)
        if m:
            name = m.group(1)
            return name if "." in name else f"System.{name}"
    return None


_FIRST_CHANCE = re.compile(r"first[- ]chance", re.IGNORECASE)
_SECOND_CHANCE = re.compile(r"second[- ]chance|unhandled exception", re.IGNORECASE)
_FIRST_CHANCE_OPTION = re.compile(r"(?:^|\s)-e\s+1\b")


def chance_from_comments(comments: Sequence[str]) -> tuple[str, str | None]:
    """First- or second-chance from procdump's comment text.

    The line naming what triggered the dump decides: ``"First chance
    exception"`` means first chance, ``"Second chance"`` / ``"Unhandled
    exception"`` second chance. Without such a line, the ``-e 1`` option on
    procdump's command line means the dump was taken at a first chance.

    Returns:
        (``"first"`` | ``"second"`` | ``"unknown"``, the comment line that told).
    """
    lines = [line.strip() for text in comments for line in text.splitlines()]
    for line in lines:
        if _SECOND_CHANCE.search(line):
            return "second", line
        if _FIRST_CHANCE.search(line):
            return "first", line
    for line in lines:
        if _FIRST_CHANCE_OPTION.search(line):
            return "first", line
    return "unknown", None


def _target_kind(dump: DumpFile, target: int) -> str:
    if target < _NULL_PAGE_LIMIT:
        return "null_page"
    if dump.system.pointer_size == 8 and 0x0000_8000_0000_0000 <= target < 0xFFFF_8000_0000_0000:
        return "non_canonical"
    if dump.modules.find(target) is not None:
        return "module"
    for t in dump.threads:
        rng = t.stack_range
        # Stacks grow down from their captured top; the reserved region lies below.
        if rng is not None and rng[0] - 0x100000 <= target < rng[0] + rng[1]:
            return "stack"
    return "wild"


def summarize_exception(dump: DumpFile) -> ExceptionSummary | None:
    """Decode ``dump.exception``; None when the dump has no exception stream."""
    exc = dump.exception
    if exc is None:
        return None
    from dumplib.analysis import oscrash

    if oscrash.os_family(dump.system.platform_id) not in (
        oscrash.OsFamily.WINDOWS, oscrash.OsFamily.OTHER
    ):  # signals and Mach exceptions: decoded by their own conventions
        return oscrash.summarize_os_exception(dump)
    code = exc.code & 0xFFFFFFFF
    params = tuple(exc.parameters)
    kind = exception_kind(code)
    name = exc.name or name_of_exception(code)
    if name is None and code == GCC_CXX_EXCEPTION:
        name = "STATUS_GCC_THROW"
    module = dump.modules.find(exc.address)
    comments = list(dump.comments)
    # EXCEPTION_NONCONTINUABLE says the raiser cannot resume (every CLR throw sets it),
    # not that no handler was found: it is no evidence of a second chance.
    chance, chance_source = chance_from_comments(comments)

    access = target = target_kind = subcode = subcode_name = None
    thrown: tuple[str, ...] = ()
    managed = None
    if kind in ("access_violation", "in_page_error") and len(params) >= 2:
        access = _ACCESS.get(params[0], f"type {params[0]}")
        target = params[1]
        target_kind = _target_kind(dump, target)
        if kind == "in_page_error" and len(params) >= 3:
            subcode = params[2]
            subcode_name = name_of_exception(subcode)
    elif kind == "fail_fast" and params:
        subcode = params[0]
        subcode_name = FAST_FAIL_CODES.get(subcode)
    elif kind == "cxx" and code == GCC_CXX_EXCEPTION:
        gcc = gcc_thrown_type(dump, params)
        thrown = (gcc,) if gcc else ()
    elif kind == "cxx":
        thrown = cxx_thrown_types(dump, params)
    elif kind == "clr":
        managed = managed_type_from_comments(comments)

    nested = tuple(
        NestedException(r.exception_code, name_of_exception(r.exception_code),
                        r.exception_address, r.exception_flags)
        for r in exc.chained
    )
    where = (
        f"{module.name}+0x{exc.address - module.base:x}" if module else f"0x{exc.address:x}"
    )
    desc = f"{name or f'exception 0x{code:08x}'} at {where}"
    if access is not None and target is not None:
        what = {"null_page": "NULL-page", "non_canonical": "non-canonical",
                "module": "image", "stack": "stack", "wild": "wild"}.get(target_kind or "", "")
        desc += f": {access} of {what} address 0x{target:x}"
    elif subcode_name or subcode is not None:
        desc += f": {subcode_name or f'subcode 0x{subcode:x}'}"
    if thrown:
        desc += f": throws {thrown[0]}"
    if managed:
        desc += f": {managed}"
    if chance != "unknown":
        desc += f" ({chance} chance)"
    return ExceptionSummary(
        thread_id=exc.thread_id,
        code=code,
        name=name,
        message=(
            fill_message(_message(code), [exc.address, target, _ACCESS_WORD.get(access, access)])
            if access is not None and target is not None
            else _message(code)
        ),
        kind=kind,
        address=exc.address,
        module=module.name if module else None,
        module_offset=exc.address - module.base if module else None,
        flags=exc.flags,
        noncontinuable=bool(exc.flags & 1),
        parameters=params,
        access=access,
        target=target,
        target_kind=target_kind,
        subcode=subcode,
        subcode_name=subcode_name,
        thrown_types=thrown,
        managed_type=managed,
        chance=chance,
        chance_source=chance_source,
        nested=nested,
        description=desc,
    )
