"""PE images read from a real full-memory dump, checked against the dump and the disk.

``fixtures/wine/caseb/caseb-full.dmp.xz`` is a full-memory dump written under
wine; the images loaded in that process are also on disk (the program and its
DLLs beside the dump, wine's system DLLs in ``fixtures/wine/system``). Truth:
the dump's own module records (TimeDateStamp, CheckSum, SizeOfImage and the
VS_FIXEDFILEINFO the dump writer copied) and the parse of the same files on
disk. The small dump of the same case holds no image memory: reading an image
from it must fail with MemoryNotInDump, not anything else.
"""

from __future__ import annotations

import lzma
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import dumplib
from dumplib._exc import MemoryNotInDump
from dumplib.pe import PeImage

WINE = Path(__file__).resolve().parent.parent / "fixtures" / "wine"
ON_DISK = {
    p.name.lower(): p
    for p in [*(WINE / "system").glob("*.dll"), *(WINE / "caseb").glob("*.dll"),
              *(WINE / "caseb").glob("*.exe")]
}


@pytest.fixture(scope="module")
def full_dump(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dumplib.Dump]:
    path = tmp_path_factory.mktemp("pe_dump") / "caseb-full.dmp"
    with lzma.open(WINE / "caseb" / "caseb-full.dmp.xz") as src, path.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    with dumplib.open(path) as dump:
        yield dump


def test_every_module_image_is_in_the_full_dump(full_dump: dumplib.Dump) -> None:
    assert len(full_dump.modules) >= 8  # the program, its two DLLs and wine's
    for module in full_dump.modules:
        pe = PeImage.from_memory(full_dump.memory.read, module.base, module.size, name=module.name)
        assert pe.layout == "memory" and pe.base == module.base
        assert pe.timestamp == module.timestamp
        assert pe.checksum == module.checksum
        assert pe.size_of_image == module.size
        assert pe.file_version == module.version
        assert len(pe.runtime_functions) > 0
        assert pe.warnings == []


def test_images_in_memory_equal_images_on_disk(full_dump: dumplib.Dump) -> None:
    compared = 0
    for module in full_dump.modules:
        path = ON_DISK.get(module.name.lower())
        if path is None:
            continue
        compared += 1
        mem = PeImage.from_memory(full_dump.memory.read, module.base, module.size)
        with PeImage.from_file(path) as disk:
            assert mem.headers == disk.headers
            assert mem.sections == disk.sections
            assert mem.runtime_functions.entries == disk.runtime_functions.entries
            for rf in disk.runtime_functions.entries[::7]:
                assert mem.unwind_chain(rf) == disk.unwind_chain(rf)
            assert (mem.exports and mem.exports.exports) == (disk.exports and disk.exports.exports)
            assert mem.codeview == disk.codeview
            assert mem.version_info == disk.version_info
    # at least the program, clr, mscorlib.ni, ntdll, kernel32 and kernelbase
    assert compared >= 6


def test_small_dump_has_no_images() -> None:
    with dumplib.open(WINE / "caseb" / "caseb.dmp") as dump:
        module = dump.modules[0]
        with pytest.raises(MemoryNotInDump):
            PeImage.from_memory(dump.memory.read, module.base, module.size)
