"""PE/COFF images (PE32 and PE32+): headers, exports, AMD64 unwind data, CodeView, version.

:class:`PeImage` reads an image from a file (file layout) or from a dump's
memory (memory layout), lazily and within bounds::

    from dumplib.pe import PeImage

    with PeImage.from_file("CrashWithException.exe") as pe:
        pe.codeview            # ('C:\\\\...\\\\CrashWithException.pdb', 'F535C5FB...', 1)
        rf = pe.function_for(0x1234)
        pe.unwind_chain(rf)    # (UnwindInfo(...),)

    pe = PeImage.from_memory(dump.memory.read, module.base, module.size)

Corrupt images raise :class:`PeError` (a :class:`dumplib.DumpError`); parts of
an image missing from a dump become warnings in :attr:`PeImage.warnings`.
"""

from __future__ import annotations

from dumplib.pe.debug import CodeView, DebugEntry, format_guid, parse_codeview, pdb_key
from dumplib.pe.errors import PeError
from dumplib.pe.exports import Export, ExportTable
from dumplib.pe.headers import DataDirectory, PeHeaders, Section
from dumplib.pe.image import PeImage, image_key
from dumplib.pe.layout import MemoryReader
from dumplib.pe.resources import FixedFileInfo, VersionInfo, parse_version_info
from dumplib.pe.structs import (
    DebugType,
    DirectoryEntry,
    DllCharacteristics,
    FileCharacteristics,
    Machine,
    SectionCharacteristics,
    Subsystem,
)
from dumplib.pe.unwind import (
    FunctionTable,
    Register,
    RuntimeFunction,
    UnwindCode,
    UnwindFlags,
    UnwindInfo,
    UnwindOp,
    parse_unwind_info,
)

__all__ = [
    "CodeView",
    "DataDirectory",
    "DebugEntry",
    "DebugType",
    "DirectoryEntry",
    "DllCharacteristics",
    "Export",
    "ExportTable",
    "FileCharacteristics",
    "FixedFileInfo",
    "FunctionTable",
    "Machine",
    "MemoryReader",
    "PeError",
    "PeHeaders",
    "PeImage",
    "Register",
    "RuntimeFunction",
    "Section",
    "SectionCharacteristics",
    "Subsystem",
    "UnwindCode",
    "UnwindFlags",
    "UnwindInfo",
    "UnwindOp",
    "VersionInfo",
    "format_guid",
    "image_key",
    "parse_codeview",
    "parse_unwind_info",
    "parse_version_info",
    "pdb_key",
]
