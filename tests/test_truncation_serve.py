"""Real dumps cut at many points serve every stream that lies wholly before the cut.

Oracle: the same dump uncut. For each cut point, every stream whose bytes
(and, for the values compared, whose referenced records) end before the cut
must give the uncut dump's values; streams the cut reaches are served as
absent, with the cut reported once in ``dump.warnings``. The command line
must open such a dump too (exit 0), not refuse it because a later stream is cut.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

import dumplib
from dumplib.cli import main
from tests.conftest import CORPUS_DUMPS, FIXTURES, RUST_MINIDUMP

WINE = sorted((FIXTURES / "wine").glob("*/*.dmp"))
DUMPS = WINE + [RUST_MINIDUMP / n for n in CORPUS_DUMPS]


def _open(data: bytes) -> dumplib.Dump:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dumplib.open(data)


def _whole(entry: Any, cut: int) -> bool:
    return entry is not None and entry.rva + entry.data_size <= cut


def _cuts(full: dumplib.Dump, size: int) -> list[int]:
    """Just after each stream's end, just before it, and 40 evenly spread points."""
    first = full.header.stream_directory_rva + 12 * len(full.streams)
    points = {size * i // 40 for i in range(1, 40)}
    for e in full.streams:
        if e.data_size:
            points |= {e.rva + e.data_size, e.rva + e.data_size - 1}
    points.add(5000)
    return sorted(p for p in points if first <= p < size)


@pytest.mark.parametrize("path", DUMPS, ids=lambda p: p.name)
def test_whole_streams_keep_their_values(path: Path) -> None:
    data = path.read_bytes()
    full = _open(data)
    st = dumplib.StreamType
    exc_full = full.exception
    for cut in _cuts(full, len(data)):
        d = _open(data[:cut])
        # none of these may raise, whatever the cut
        sysinfo, pid, exc = d.system, d.process_id, d.exception
        threads, modules = list(d.threads), list(d.modules)
        if _whole(full.stream(st.SystemInfoStream), cut):
            assert sysinfo.arch == full.system.arch, cut
            assert sysinfo.os_version == full.system.os_version, cut
        if _whole(full.stream(st.MiscInfoStream), cut):
            assert pid == full.process_id, cut
        else:
            assert pid is None or pid == full.process_id, cut
        if _whole(full.stream(st.ThreadListStream), cut):
            assert [t.id for t in threads] == [t.id for t in full.threads], cut
        if _whole(full.stream(st.ModuleListStream), cut):
            assert [(m.base, m.size, m.timestamp) for m in modules] == [
                (m.base, m.size, m.timestamp) for m in full.modules], cut
        if _whole(full.stream(st.ExceptionStream), cut):
            assert exc is not None and exc_full is not None, cut
            assert (exc.code, exc.address, exc.thread_id, exc.parameters) == (
                exc_full.code, exc_full.address, exc_full.thread_id, exc_full.parameters), cut
            for _ in range(2):  # served (None when its record is cut), never raises
                exc.context  # noqa: B018
        elif full.stream(st.ExceptionStream) is not None:
            assert exc is None or exc.code == exc_full.code, cut  # type: ignore[union-attr]
        # memory ranges whose bytes lie before the cut read as in the uncut dump
        if _whole(full.stream(st.MemoryListStream), cut):
            for r in list(full.memory.regions())[:20]:
                if r.file_offset + r.size <= cut and r.size:
                    n = min(r.size, 64)
                    assert d.memory.read(r.start, n) == full.memory.read(r.start, n), cut
        if cut < len(data) and any(e.rva + e.data_size > cut for e in full.streams
                                   if e.data_size):
            assert any("cut" in w for w in d.warnings), cut
        # reported once: no note repeats, however often the streams are read
        _ = (d.exception, d.process_id, d.memory, d.threads, d.modules)
        assert len(d.warnings) == len(set(d.warnings)), d.warnings


@pytest.mark.parametrize("name", ["caseb", "stackoverflow", "nullwrite"])
def test_cli_opens_a_dump_cut_at_5000_bytes(name: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    src = FIXTURES / "wine" / name / f"{name}.dmp"
    data = src.read_bytes()
    full = _open(data)
    cut = tmp_path / "cut.dmp"
    cut.write_bytes(data[:5000])
    for command in ("info", "threads", "modules", "streams", "stack", "analyze"):
        code = main([command, str(cut), "--json"])
        out, err = capsys.readouterr()
        assert code == 0, (command, err)
        json.loads(out)
        assert "is cut" in err
    assert main(["info", str(cut), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    st = dumplib.StreamType
    for kind, key, want in (
        (st.SystemInfoStream, "arch", full.system.arch.value),
        (st.ThreadListStream, "thread_count", len(full.threads)),
        (st.ModuleListStream, "module_count", len(full.modules)),
    ):
        if _whole(full.stream(kind), 5000):
            assert doc[key] == want, key


def test_empty_file_names_the_file_header(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.dmp"
    empty.write_bytes(b"")
    assert main(["info", str(empty)]) == 1
    err = capsys.readouterr().err
    assert "file header" in err and "stream header" not in err
    assert len(err.strip().splitlines()) == 1
