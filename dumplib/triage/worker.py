"""Analysing one dump into a :class:`~dumplib.triage.rows.TriageRow`.

:func:`analyse` is what every triage worker runs for each dump: read and hash
it (:func:`~dumplib.triage.discover.load_dump`), skip it when its hash is
already known, open it, and describe it.

The description comes from :func:`dumplib.analyze` when the analysis layer is
installed (bucket, findings, crashing stack). Without it -- or when it fails
on this dump -- the row is made from the parser alone (the *parser fallback*,
``row.analysis == "parser"``): the bucket is
``<exception name or 0xCODE>/<faulting module>/<module stem>+0x<offset>``
(``HANG/<main module>/-`` without an exception), and the top frames come from
the stack walker when it is installed.

Fault injection, for tests only: when the environment variable
``DUMPLIB_TRIAGE_FAULTS`` holds a JSON object mapping file names (the last
path component, or the zip member's) to ``"hang"``, ``"crash"``, ``"raise"``
or ``"hog"``, :func:`analyse` sleeps forever, kills its own process, raises
a RuntimeError, or allocates without end for those dumps. Nothing else reads
the variable; it lets the tests check that a dump which hangs or kills a
worker is recorded and the run goes on, through the same code path a real hang takes.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dumplib._exc import DumpError
from dumplib.triage.discover import IN_MEMORY_LIMIT, DumpRef, load_dump
from dumplib.triage.rows import ANALYSIS_FULL, ANALYSIS_PARSER, TriageRow

if TYPE_CHECKING:
    from dumplib.dump import Dump
    from dumplib.model.objects import Module
    from dumplib.unwind.frames import Frame, Stack

__all__ = [
    "FAULTS_ENV",
    "TOP_FRAMES",
    "Skipped",
    "WorkerConfig",
    "analyse",
    "error_row",
    "fallback_bucket",
    "frame_text",
]

#: Environment variable for test-only fault injection (see the module docstring).
FAULTS_ENV = "DUMPLIB_TRIAGE_FAULTS"
#: Frames kept in a row.
TOP_FRAMES = 5
#: Bytes a worker may allocate per dump beyond its baseline and the dump's size.
DEFAULT_MEMORY_LIMIT = 2 << 30
_MAX_WARNINGS = 5
_MAX_WARNING_LEN = 300


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker needs besides the dump: small and picklable.

    Attributes:
        symbols: ``symbols=`` entries for the analysis (paths or symbol-path strings).
        modules: names of modules whose versions each row records (beyond the
            main, faulting and top-frame modules); compared case-insensitively.
        skip: sha256 digests already in the result file; such dumps are only hashed.
        top_frames: frames kept per row.
        in_memory_limit: compressed dumps expanding to at most this are kept in memory.
        memory_limit: bytes a worker process may allocate for one dump beyond
            what it had and the dump's own size (RLIMIT_AS; None: no limit).
            A dump that needs more gets a "memory-limit" error row.
    """

    symbols: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    skip: frozenset[str] = field(default_factory=frozenset)
    top_frames: int = TOP_FRAMES
    in_memory_limit: int = IN_MEMORY_LIMIT
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT

    def to_json(self) -> dict[str, Any]:
        """The config as JSON (for worker subprocesses)."""
        return {
            "symbols": list(self.symbols),
            "modules": list(self.modules),
            "skip": sorted(self.skip),
            "top_frames": self.top_frames,
            "in_memory_limit": self.in_memory_limit,
            "memory_limit": self.memory_limit,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> WorkerConfig:
        """Rebuild from :meth:`to_json`."""
        return cls(
            symbols=tuple(doc.get("symbols", ())),
            modules=tuple(doc.get("modules", ())),
            skip=frozenset(doc.get("skip", ())),
            top_frames=int(doc.get("top_frames", TOP_FRAMES)),
            in_memory_limit=int(doc.get("in_memory_limit", IN_MEMORY_LIMIT)),
            memory_limit=(None if doc.get("memory_limit", DEFAULT_MEMORY_LIMIT) is None
                          else int(doc.get("memory_limit", DEFAULT_MEMORY_LIMIT))),
        )


@dataclass(frozen=True, slots=True)
class Skipped:
    """A dump left alone because its sha256 is already in the result file."""

    sha256: str
    size: int


def error_row(ref: DumpRef, error: str, *, size: int | None = None,
              sha256: str | None = None, kind: str = "unreadable") -> TriageRow:
    """The row of a dump that could not be analysed (bucket ``ERROR/<kind>``)."""
    return TriageRow(
        path=ref.path,
        member=ref.member,
        compression=ref.compression,
        size=size,
        sha256=sha256,
        bucket=f"ERROR/{kind}",
        error=error,
    )


def _inject_fault(ref: DumpRef) -> None:
    raw = os.environ.get(FAULTS_ENV)
    if not raw:
        return
    try:
        faults = json.loads(raw)
    except ValueError:
        return
    name = os.path.basename(ref.member or ref.path)
    action = faults.get(name) if isinstance(faults, dict) else None
    if action == "hang":
        while True:
            time.sleep(3600)
    elif action == "crash":
        os._exit(86)
    elif action == "raise":
        raise RuntimeError(f"injected failure for {name}")
    elif action == "hog":  # a runaway allocation, for the memory-limit tests
        held = []
        while True:
            held.append(bytearray(64 << 20))


_analysis_cache: dict[str, Any] = {}


def _analysis() -> tuple[Any, list[Any]] | None:
    """``(analyze, built-in signatures)`` when the analysis layer is installed.

    The signatures are loaded once per process and handed to every call.
    When the layer is missing or its signatures do not load, rows use the
    parser fallback (and, for the latter, say why in their warnings).
    """
    if "analyze" not in _analysis_cache:
        try:
            from dumplib.analysis import analyze, load_signatures
        except ImportError:
            _analysis_cache["analyze"] = None
        else:
            try:
                _analysis_cache["analyze"] = (analyze, load_signatures((), builtin=True))
            except Exception as e:  # a broken signature file must not stop triage
                _analysis_cache["analyze"] = None
                _analysis_cache["note"] = f"analysis unavailable: {type(e).__name__}: {e}"
    found: tuple[Any, list[Any]] | None = _analysis_cache["analyze"]
    return found


def _stem(name: str) -> str:
    low = name.lower()
    if low.endswith((".dll", ".exe", ".sys", ".drv", ".ocx", ".cpl", ".so")):
        return low[: low.rfind(".")]
    return low


def frame_text(frame: Frame) -> str:
    """``module!function+0xoff``, ``module+0xoff`` or ``0xaddress`` for a frame."""
    if frame.module is None:
        return f"0x{frame.ip:x}"
    if frame.function:
        return f"{frame.module.name}!{frame.function}+0x{frame.offset:x}"
    return f"{frame.module.name}+0x{frame.offset:x}"


def fallback_bucket(
    code: int | None, name: str | None, module: Module | None, address: int | None,
    main: str | None,
) -> str:
    """The parser-only bucket: exception, faulting module, module-relative offset.

    ``EXCEPTION_ACCESS_VIOLATION`` becomes ``ACCESS_VIOLATION`` (the
    ``EXCEPTION_``/``STATUS_`` prefix dropped), unknown codes ``0xC0000409``;
    a dump without an exception is ``HANG/<main module>/-``.
    """
    if code is None:
        return f"HANG/{(main or 'unknown').lower()}/-"
    kind = (name or f"0x{code:08X}").removeprefix("EXCEPTION_").removeprefix("STATUS_")
    if module is None or address is None:
        where = f"0x{address:x}" if address is not None else "0x?"
        return f"{kind}/unknown/{where}"
    return f"{kind}/{module.name.lower()}/{_stem(module.name)}+0x{address - module.base:x}"


def _version(m: Module | None) -> str:
    return ".".join(str(v) for v in m.version) if m is not None and m.version else ""


def _walk_crash_stack(dump: Dump, thread_id: int | None, cfg: WorkerConfig) -> Stack | None:
    try:
        from dumplib.unwind.frames import Stack  # noqa: F401  (the walker is installed)
    except ImportError:
        return None
    if thread_id is None:
        if not len(dump.threads):
            return None
        thread_id = dump.threads[0].id
    try:
        return dump.stack(thread_id, list(cfg.symbols), max_frames=64)
    except Exception:  # the fallback row is still worth having without frames
        return None


def _describe(ref: DumpRef, dump: Dump, size: int, sha: str, cfg: WorkerConfig) -> TriageRow:
    notes: list[str] = []
    main = dump.modules.main
    exc = dump.exception
    fault = dump.modules.find(exc.address) if exc is not None else None
    bucket = label = ""
    findings: tuple[str, ...] = ()
    stack: Stack | None = None
    mode = ANALYSIS_PARSER
    found = _analysis()
    if "note" in _analysis_cache:
        notes.append(str(_analysis_cache["note"]))
    if found is not None:
        analyze, signatures = found
        try:
            report = analyze(dump, list(cfg.symbols), signatures, builtin_signatures=False)
            bucket, label = report.bucket, report.bucket_label
            findings = tuple(f.id for f in report.findings)
            stack = report.crash_stack
            mode = ANALYSIS_FULL
        except DumpError as e:
            notes.append(f"analysis failed: {e}")
        except Exception as e:  # a bug in the analysis must not lose the dump's row
            notes.append(f"analysis failed: {type(e).__name__}: {e}")
    if mode == ANALYSIS_PARSER:
        stack = _walk_crash_stack(dump, exc.thread_id if exc is not None else None, cfg)
        bucket = fallback_bucket(
            exc.code if exc is not None else None,
            exc.name if exc is not None else None,
            fault,
            exc.address if exc is not None else None,
            main.name if main is not None else None,
        )
        label = bucket
    top = stack.frames[: cfg.top_frames] if stack is not None else ()
    interest: dict[str, str] = {}
    for m in (main, fault, *(f.module for f in top)):
        if m is not None:
            interest.setdefault(m.name, _version(m))
    wanted = {w.lower() for w in cfg.modules}
    if wanted:
        for m in dump.modules:
            if m.name.lower() in wanted:
                interest.setdefault(m.name, _version(m))
    create = dump.process_create_time
    warns = [*dump.warnings, *notes][-_MAX_WARNINGS:]
    return TriageRow(
        path=ref.path,
        member=ref.member,
        compression=ref.compression,
        size=size,
        sha256=sha,
        process=main.name if main is not None else None,
        process_version=_version(main) or None,
        process_id=dump.process_id,
        modules=tuple(sorted(interest.items(), key=lambda kv: kv[0].lower())),
        arch=str(dump.system.arch.value),
        os_version=".".join(str(v) for v in dump.system.os_version),
        exception_code=exc.code if exc is not None else None,
        exception_name=exc.name if exc is not None else None,
        exception_address=exc.address if exc is not None else None,
        exception_thread=exc.thread_id if exc is not None else None,
        fault_module=fault.name if fault is not None else None,
        fault_offset=exc.address - fault.base if exc is not None and fault is not None else None,
        bucket=bucket,
        frames=tuple(frame_text(f) for f in top),
        findings=findings,
        dump_time=dump.header.time_date_stamp,
        process_create_time=int(create.timestamp()) if create is not None else None,
        analysis=mode,
        warnings=tuple(w[:_MAX_WARNING_LEN] for w in warns),
        bucket_label=label,
    )


def analyse(
    ref: DumpRef, cfg: WorkerConfig, *, on_hashed: Any = None
) -> TriageRow | Skipped:
    """Triage one dump.

    Args:
        ref: the dump.
        cfg: the worker configuration.
        on_hashed: called as ``on_hashed(sha256, size)`` once the dump is read
            and hashed, before it is parsed (a supervisor uses it to name the
            dump in the row it writes if this worker then hangs or dies).

    Returns:
        The row, or :class:`Skipped` when the dump's sha256 is in ``cfg.skip``. Unreadable
        dumps give a row with ``error`` set; nothing raised by the parser or
        the analysis escapes.
    """
    from dumplib.dump import open as open_dump

    size: int | None = None
    sha: str | None = None
    try:
        with load_dump(ref, in_memory_limit=cfg.in_memory_limit) as loaded:
            size, sha = loaded.size, loaded.sha256
            if sha in cfg.skip:
                return Skipped(sha, size)
            if on_hashed is not None:
                on_hashed(sha, size)
            _inject_fault(ref)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with open_dump(loaded.source) as dump:
                    return _describe(ref, dump, size, sha, cfg)
    except DumpError as e:
        return error_row(ref, str(e), size=size, sha256=sha, kind=type(e).__name__)
    except MemoryError:
        return error_row(ref, "memory limit reached while analysing this dump "
                         f"({cfg.memory_limit} bytes per dump beyond its size)",
                         size=size, sha256=sha, kind="memory-limit")
    except Exception as e:  # a parser bug must not stop the batch
        return error_row(ref, f"internal error: {type(e).__name__}: {e}", size=size,
                         sha256=sha, kind="internal")


def analyse_many(refs: Sequence[DumpRef], cfg: WorkerConfig) -> list[TriageRow | Skipped]:
    """:func:`analyse` for each ref, in this process (no isolation or time limit)."""
    return [analyse(r, cfg) for r in refs]
