"""The WER "Application Error" event (ID 1000) a crash dump corresponds to.

Windows Error Reporting logs, for a crash, the faulting application and module
with their file versions and PE time stamps, the exception code, the fault
offset in the module, the process id and start time (a FILETIME) and both
paths. :func:`wer_event` rebuilds those fields from the dump so a dump can be
matched with the event log entry it belongs to.
"""

from __future__ import annotations

from dumplib.analysis.model import WerEvent
from dumplib.model.dump import DumpFile

__all__ = ["UNIX_EPOCH_AS_FILETIME", "time_t_to_filetime", "version_text", "wer_event"]

#: 1970-01-01 in FILETIME ticks (100 ns since 1601-01-01).
UNIX_EPOCH_AS_FILETIME = 116444736000000000


def time_t_to_filetime(seconds: int) -> int:
    """Seconds since 1970 (the dump's time_t) as a FILETIME."""
    return seconds * 10_000_000 + UNIX_EPOCH_AS_FILETIME


def version_text(version: tuple[int, int, int, int] | None) -> str:
    """``(5, 0, 8308, 0)`` -> ``"5.0.8308.0"``; None -> ``"0.0.0.0"`` as WER prints it."""
    return ".".join(str(v) for v in (version or (0, 0, 0, 0)))


def wer_event(dump: DumpFile) -> WerEvent | None:
    """The event 1000 fields for the dump's exception, or None without an exception."""
    exc = dump.exception
    if exc is None:
        return None
    app = dump.modules.main
    module = dump.modules.find(exc.address)
    mi = dump.misc_info
    start = None
    if mi is not None and mi.flags1 & 2 and mi.process_create_time:
        start = time_t_to_filetime(mi.process_create_time)
    return WerEvent(
        application_name=app.name if app else "unknown",
        application_version=version_text(app.version if app else None),
        application_timestamp=app.timestamp if app else 0,
        module_name=module.name if module else "unknown",
        module_version=version_text(module.version if module else None),
        module_timestamp=module.timestamp if module else 0,
        exception_code=exc.code & 0xFFFFFFFF,
        fault_offset=exc.address - module.base if module else exc.address,
        process_id=dump.process_id,
        start_time=start,
        application_path=app.path if app else "unknown",
        module_path=module.path if module else "unknown",
        pointer_size=dump.system.pointer_size,
    )
