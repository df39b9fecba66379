"""The result records of an analysis: :class:`Report`, :class:`Finding` and their parts.

Everything here is plain data (frozen dataclasses); renderers (the command
line, Jupyter) turn it into text, tables or JSON. ``to_json`` methods give
plain JSON values with integers kept as integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from dumplib.unwind.frames import Stack

__all__ = [
    "ExceptionSummary",
    "FaultingInstruction",
    "Finding",
    "JsonValue",
    "NestedException",
    "Report",
    "ThirdPartyModule",
    "WerEvent",
]

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
"""A plain JSON value (what ``json.dumps`` writes without a ``default``)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One conclusion about the dump, with what supports it and what to do.

    Attributes:
        id: a stable slug naming the problem (``"clr-double-io-completion"``).
        title: one line for people.
        confidence: 0..1, how sure the rule or detector is.
        evidence: what was seen, as plain JSON values (thread ids, frames,
            module versions, addresses and codes as integers).
        advice: what to do about it (KB numbers, what to remove).
        source: where the finding comes from: ``"signature:<file>"`` or
            ``"detector:<name>"``.
        references: KB articles and documents the advice cites.
    """

    id: str
    title: str
    confidence: float
    evidence: dict[str, JsonValue]
    advice: str
    source: str = ""
    references: tuple[str, ...] = ()

    def to_json(self) -> dict[str, JsonValue]:
        """The finding as a JSON object."""
        return {
            "id": self.id,
            "title": self.title,
            "confidence": self.confidence,
            "evidence": self.evidence,
            "advice": self.advice,
            "source": self.source,
            "references": list(self.references),
        }


@dataclass(frozen=True, slots=True)
class NestedException:
    """A further EXCEPTION_RECORD chained to the dump's exception."""

    code: int
    name: str | None
    address: int
    flags: int

    def to_json(self) -> dict[str, JsonValue]:
        """The record as a JSON object."""
        return {"code": self.code, "name": self.name, "address": self.address, "flags": self.flags}


@dataclass(frozen=True, slots=True)
class ExceptionSummary:
    """The dump's exception, decoded.

    Attributes:
        thread_id: the thread that raised it.
        code, name, message: the code, its name (``EXCEPTION_ACCESS_VIOLATION``)
            and the message text of the code tables ('' when none).
        kind: ``"access_violation"``, ``"stack_overflow"``, ``"heap_corruption"``,
            ``"fail_fast"``, ``"cxx"``, ``"clr"``, ``"breakpoint"``,
            ``"in_page_error"`` or ``"other"``.
        address: where it happened; module, module_offset: the module holding
            ``address`` and the offset into it (None outside modules).
        flags: ExceptionFlags; noncontinuable: flag bit 0.
        parameters: ExceptionInformation.
        access: for access violations and in-page errors: ``"read"``,
            ``"write"`` or ``"execute"``.
        target: the inaccessible address; target_kind: ``"null_page"`` (below
            64 KiB), ``"non_canonical"``, ``"module"`` (inside an image),
            ``"stack"`` (inside a thread's stack) or ``"wild"``.
        subcode, subcode_name: fail-fast code (parameters[0]) or in-page I/O status.
        thrown_types: C++ exceptions: the type names of the CatchableTypeArray,
            most derived first, when memory holds the ThrowInfo.
        managed_type: CLR exceptions: the managed type from procdump's comment.
        chance: ``"first"``, ``"second"`` or ``"unknown"``; chance_source says
            what told (a comment line).
        nested: chained exception records.
        description: one readable line.
    """

    thread_id: int
    code: int
    name: str | None
    message: str
    kind: str
    address: int
    module: str | None
    module_offset: int | None
    flags: int
    noncontinuable: bool
    parameters: tuple[int, ...]
    access: str | None = None
    target: int | None = None
    target_kind: str | None = None
    subcode: int | None = None
    subcode_name: str | None = None
    thrown_types: tuple[str, ...] = ()
    managed_type: str | None = None
    chance: str = "unknown"
    chance_source: str | None = None
    nested: tuple[NestedException, ...] = ()
    description: str = ""

    def to_json(self) -> dict[str, JsonValue]:
        """The summary as a JSON object."""
        return {
            "thread_id": self.thread_id,
            "code": self.code,
            "name": self.name,
            "message": self.message,
            "kind": self.kind,
            "address": self.address,
            "module": self.module,
            "module_offset": self.module_offset,
            "flags": self.flags,
            "noncontinuable": self.noncontinuable,
            "parameters": list(self.parameters),
            "access": self.access,
            "target": self.target,
            "target_kind": self.target_kind,
            "subcode": self.subcode,
            "subcode_name": self.subcode_name,
            "thrown_types": list(self.thrown_types),
            "managed_type": self.managed_type,
            "chance": self.chance,
            "chance_source": self.chance_source,
            "nested": [n.to_json() for n in self.nested],
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class WerEvent:
    """The Application Error event (ID 1000) Windows Error Reporting would log.

    Attributes:
        application_name, application_version, application_timestamp: the main
            module's file name, file version (``"5.0.8308.0"``) and PE time stamp.
        module_name, module_version, module_timestamp: the same for the module
            holding the exception address (``"unknown"``, ``"0.0.0.0"``, 0 outside modules).
        exception_code: the exception code.
        fault_offset: the exception address minus the faulting module's base
            (the address itself outside modules).
        process_id: the process id (None when the dump does not say).
        start_time: the process start time as a FILETIME (the dump records whole
            seconds, so the sub-second part is zero), or None.
        application_path, module_path: full paths as recorded.
        pointer_size: 8 or 4; the fault offset is printed with 16 or 8 digits.
    """

    application_name: str
    application_version: str
    application_timestamp: int
    module_name: str
    module_version: str
    module_timestamp: int
    exception_code: int
    fault_offset: int
    process_id: int | None
    start_time: int | None
    application_path: str
    module_path: str
    pointer_size: int = 8

    def text(self) -> str:
        """The event's text, line for line as the event log shows it."""
        digits = 16 if self.pointer_size == 8 else 8
        pid = "unknown" if self.process_id is None else f"0x{self.process_id:x}"
        start = "unknown" if self.start_time is None else f"0x{self.start_time:016x}"
        return "\n".join(
            [
                f"Faulting application name: {self.application_name}, version: "
                f"{self.application_version}, time stamp: 0x{self.application_timestamp:08x}",
                f"Faulting module name: {self.module_name}, version: {self.module_version}, "
                f"time stamp: 0x{self.module_timestamp:08x}",
                f"Exception code: 0x{self.exception_code:08x}",
                f"Fault offset: 0x{self.fault_offset:0{digits}x}",
                f"Faulting process id: {pid}",
                f"Faulting application start time: {start}",
                f"Faulting application path: {self.application_path}",
                f"Faulting module path: {self.module_path}",
            ]
        )

    def to_json(self) -> dict[str, JsonValue]:
        """The event's fields as a JSON object (plus ``text``)."""
        return {
            "application_name": self.application_name,
            "application_version": self.application_version,
            "application_timestamp": self.application_timestamp,
            "module_name": self.module_name,
            "module_version": self.module_version,
            "module_timestamp": self.module_timestamp,
            "exception_code": self.exception_code,
            "fault_offset": self.fault_offset,
            "process_id": self.process_id,
            "start_time": self.start_time,
            "application_path": self.application_path,
            "module_path": self.module_path,
            "text": self.text(),
        }


@dataclass(frozen=True, slots=True)
class ThirdPartyModule:
    """A module not published by Microsoft, named from its version resource.

    Attributes:
        name, path, base, size: from the module list.
        version: the file version as ``"a.b.c.d"`` (module record, else resource), or None.
        vendor: CompanyName, or None when the image (or its resource) is not available.
        description: FileDescription, or None.
        product: ProductName, or None.
        on_threads: ids of threads with a frame in the module (when stacks exist).
        reason: why it is listed (``"CompanyName is not Microsoft"`` or
            ``"no version resource; outside the Windows directory"``).
    """

    name: str
    path: str
    base: int
    size: int
    version: str | None
    vendor: str | None
    description: str | None
    product: str | None
    on_threads: tuple[int, ...] = ()
    reason: str = ""

    def to_json(self) -> dict[str, JsonValue]:
        """The module as a JSON object."""
        return {
            "name": self.name,
            "path": self.path,
            "base": self.base,
            "size": self.size,
            "version": self.version,
            "vendor": self.vendor,
            "description": self.description,
            "product": self.product,
            "on_threads": list(self.on_threads),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class FaultingInstruction:
    """The instruction at the exception address, disassembled.

    Attributes:
        address: where it is; location: ``module+0x1234`` (or the address).
        data: its bytes.
        text: ``"mov rax, qword ptr [rax]"``.
        explanation: what it did, when the stack walker's disassembler can say
            (``"read from [rax] with rax = 0x0 -> address 0x0"``).
    """

    address: int
    location: str
    data: bytes
    text: str
    explanation: str | None = None

    def to_json(self) -> dict[str, JsonValue]:
        """The instruction as a JSON object (bytes as hex text)."""
        return {
            "address": self.address,
            "location": self.location,
            "bytes": self.data.hex(),
            "text": self.text,
            "explanation": self.explanation,
        }


@dataclass(frozen=True, slots=True)
class Report:
    """What :func:`dumplib.analyze` concluded.

    Attributes:
        findings: conclusions, most confident first.
        bucket: a stable crash-bucket string: equal for the same crash across
            dumps, different for different crashes.
        exception: the decoded exception, or None for dumps without one.
        wer: the WER event 1000 view (None without an exception).
        third_party_modules: modules not published by Microsoft.
        faulting_instruction: the instruction at the exception address, when
            its bytes are in the dump or an image on the symbol path.
        crash_stack: the walked stack of the exception thread (or of the
            thread the findings are about for hangs), when stacks exist.
        thread_states: per thread id: ``"network_io"``, ``"critical_section"``,
            ``"io_completion"``, ``"wait"``, ``"sleep"``, ``"running"``,
            ``"unknown"`` (no stack).
        notes: what could not be done and why (no stacks, memory missing, a
            rule that failed).
        summary: one line for people.
        bucket_label: the bucket with frame names where ``bucket`` keys frames on
            function start RVAs (for people; group on ``bucket``).
    """

    findings: list[Finding]
    bucket: str
    exception: ExceptionSummary | None
    wer: WerEvent | None
    third_party_modules: list[ThirdPartyModule]
    faulting_instruction: FaultingInstruction | None
    crash_stack: Stack | None = None
    thread_states: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    summary: str = ""
    bucket_label: str = ""

    def __repr__(self) -> str:
        lines = [f"<Report bucket={self.bucket}>"]
        if self.summary:
            lines.append(f"  {self.summary}")
        elif self.exception is not None:
            lines.append(f"  exception: {self.exception.description or self.exception.name}")
        lines += [f"  finding {f.id} ({f.confidence:.2f}): {f.title}" for f in self.findings]
        if not self.findings:
            lines.append("  no findings")
        if self.crash_stack is not None:
            frames = self.crash_stack.frames
            lines.append(f"  crash stack, thread {self.crash_stack.thread_id}:")
            lines += [f"    #{f.index:02d} {f} ({f.trust.value})" for f in frames[:8]]
            if len(frames) > 8:
                lines.append(f"    ... {len(frames) - 8} more frames")
        lines += [f"  note: {n}" for n in self.notes[:5]]
        if len(self.notes) > 5:
            lines.append(f"  ... {len(self.notes) - 5} more notes")
        return "\n".join(lines)
    #: Kernel dumps: the bug check report (code, parameters explained, probably caused by,
    #: third-party drivers); None for process dumps.
    bugcheck: dict[str, JsonValue] | None = None

    def finding(self, finding_id: str) -> Finding | None:
        """The first finding with this id, or None."""
        for f in self.findings:
            if f.id == finding_id:
                return f
        return None

    def to_json(self) -> dict[str, JsonValue]:
        """The report as one JSON object (the ``dumplib analyze --json`` document)."""
        stack: JsonValue = None
        if self.crash_stack is not None:
            stack = {
                "thread_id": self.crash_stack.thread_id,
                "status": self.crash_stack.status.value,
                "status_meaning": self.crash_stack.status.meaning,
                "frames": [
                    {
                        "ip": f.ip,
                        "sp": f.sp,
                        "module": f.module_name,
                        "function": f.function,
                        "offset": f.offset,
                        "function_offset": f.offset if f.function else None,
                        "module_offset": f.ip - f.module.base if f.module else None,
                        "trust": f.trust.value,
                        "location": f.location,
                        "source_file": f.source_file,
                        "source_line": f.source_line,
                    }
                    for f in self.crash_stack.frames
                ],
            }
        return {
            "summary": self.summary,
            "bucket": self.bucket,
            "bucket_label": self.bucket_label,
            "exception": None if self.exception is None else self.exception.to_json(),
            "faulting_instruction": (
                None if self.faulting_instruction is None else self.faulting_instruction.to_json()
            ),
            "crash_stack": stack,
            "findings": [f.to_json() for f in self.findings],
            "third_party_modules": [m.to_json() for m in self.third_party_modules],
            "wer": None if self.wer is None else self.wer.to_json(),
            "thread_states": {str(k): v for k, v in self.thread_states.items()},
            "notes": list(self.notes),
            "bugcheck": self.bugcheck,
        }
