"""Compressed dumps (issues 13 and 14): every command and ``dumplib.open`` read
``.gz``, ``.xz``, ``.bz2``, ``.zst`` and ``.zip``, within bounds.

Oracles: the compressed files are made here by the standard library's (and
zstandard's) compressors from a real dump, so the expected content is the
original file; hostile archives are built by hand (zip headers patched at the
offsets of APPNOTE.TXT 4.3.7 and 4.3.12).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

import dumplib
from dumplib._exc import DumpError, NotADumpError
from dumplib.decompress import (
    ArchiveError,
    ExpansionLimitError,
    UnsupportedArchiveError,
    expand,
)
from dumplib.triage import find_dumps, load_dump
from tests._limits import ROOT, measure

SAMPLE = ROOT / "dumplib" / "samples" / "test.dmp"


def _zstd(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    return bytes(zstandard.ZstdCompressor().compress(data))


def _zip(data: bytes, name: str = "crash.dmp", **extra: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
        for n, d in extra.items():
            z.writestr(n, d)
    return out.getvalue()


COMPRESSORS = {
    "gz": gzip.compress,
    "xz": lzma.compress,
    "bz2": bz2.compress,
    "zst": _zstd,
    "zip": _zip,
}


@pytest.mark.parametrize("ext", sorted(COMPRESSORS))
def test_open_reads_every_compression(ext: str, tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    path = tmp_path / f"sample.dmp.{ext}"
    path.write_bytes(COMPRESSORS[ext](data))
    with dumplib.open(SAMPLE) as plain, dumplib.open(path) as dump:
        assert dump.file_size == len(data)
        assert dump.source.read(0, len(data)) == data
        assert [t.id for t in dump.threads] == [t.id for t in plain.threads]
        assert [m.name for m in dump.modules] == [m.name for m in plain.modules]


@pytest.mark.parametrize("ext", ["gz", "zip", "zst"])
def test_every_command_reads_a_compressed_dump(ext: str, tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    path = tmp_path / f"sample.dmp.{ext}"
    path.write_bytes(COMPRESSORS[ext](data))
    for cmd in (["info"], ["threads"], ["modules"], ["stack", "--json"]):
        plain = subprocess.run([sys.executable, "-m", "dumplib", *cmd, str(SAMPLE)], cwd=ROOT,
                               capture_output=True, text=True, timeout=120, check=False)
        got = subprocess.run([sys.executable, "-m", "dumplib", *cmd, str(path)], cwd=ROOT,
                             capture_output=True, text=True, timeout=120, check=False)
        assert got.returncode == plain.returncode == 0, got.stderr
        assert "signature" not in got.stderr
        if cmd == ["threads"]:
            assert got.stdout == plain.stdout


def test_triage_finds_bz2_and_zst(tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    (tmp_path / "a.dmp.bz2").write_bytes(bz2.compress(data))
    (tmp_path / "b.dmp.zst").write_bytes(_zstd(data))
    refs = list(find_dumps([tmp_path]))
    assert [r.compression for r in refs] == ["bz2", "zstd"]
    for ref in refs:
        with load_dump(ref) as loaded:
            assert loaded.sha256 == hashlib.sha256(data).hexdigest()


def test_large_dumps_spill_to_a_mapped_file_with_bounded_memory(tmp_path: Path) -> None:
    """96 MiB of incompressible dump: RSS stays far below the dump's size."""
    head = SAMPLE.read_bytes()
    path = tmp_path / "big.dmp.gz"
    size = 96 << 20
    with gzip.open(path, "wb", compresslevel=1) as g:
        g.write(head)
        rest = size - len(head)
        block = os.urandom(1 << 20)
        while rest > 0:
            n = min(rest, len(block))
            g.write(block[:n])
            rest -= n
    m = measure(f"""
import dumplib
with dumplib.open({str(path)!r}) as d:
    n = len(d.threads)
    size = d.file_size
    spilled = d.source.raw is not None and not isinstance(d.source.raw, bytes)
result(threads=n, size=size, spilled=spilled)
""")
    assert m.fields == {"threads": 2, "size": size, "spilled": True}
    # holding the 96 MiB dump would need 25 MB (interpreter) + 96 MiB; measured ~57 MB
    assert m.rss_mb < 75, m


def test_a_bomb_of_zeros_stops_on_its_first_bytes(tmp_path: Path) -> None:
    """1000 MiB of zeros in ~1 MB of gzip: refused before anything is spilled."""
    path = tmp_path / "bomb.dmp.gz"
    with gzip.open(path, "wb", compresslevel=9) as g:
        zero = bytes(1 << 20)
        for _ in range(1000):
            g.write(zero)
    assert path.stat().st_size < 2 << 20
    m = measure(f"""
import os, tempfile
before = set(os.listdir(tempfile.gettempdir()))
import dumplib
try:
    dumplib.open({str(path)!r})
    kind = None
except Exception as e:
    kind = type(e).__name__
    msg = str(e)
left = [n for n in set(os.listdir(tempfile.gettempdir())) - before if n.startswith("dumplib")]
result(kind=kind, msg=msg, left=left)
""")
    assert m.fields["kind"] == "NotADumpError"
    assert "gzip-compressed but does not hold a minidump" in m.fields["msg"]
    assert m.fields["left"] == []
    assert m.seconds < 5 and m.rss_mb < 80, m


@pytest.mark.parametrize("kind", ["gzip", "xz"])
def test_a_minidump_header_on_a_bomb_hits_the_expansion_cap(kind: str, tmp_path: Path) -> None:
    """MDMP then 1 GiB of zeros: stops at the ratio cap, memory and time bounded."""
    path = tmp_path / f"bomb.dmp.{kind}"
    head = SAMPLE.read_bytes()[:4096]
    comp = gzip.open(path, "wb", compresslevel=9) if kind == "gzip" else lzma.open(path, "wb")
    with comp as g:
        g.write(head)
        zero = bytes(1 << 20)
        for _ in range(1024):
            g.write(zero)
    m = measure(f"""
import dumplib
try:
    dumplib.open({str(path)!r})
    kind = None
except Exception as e:
    kind = type(e).__name__
    msg = str(e)
result(kind=kind, msg=msg)
""")
    assert m.fields["kind"] == "ExpansionLimitError", m.fields
    assert "expands beyond" in m.fields["msg"]
    assert m.seconds < 20 and m.rss_mb < 100, m  # measured 0.3-1.2 s, 52 MB


def test_zip_of_many_members_reads_its_directory_once(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """N members cost O(N): the central directory is parsed once, not once per member."""
    data = SAMPLE.read_bytes()
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(300):
            z.writestr(f"d{i:04}.dmp", data)
    parsed = []
    real = zipfile.ZipFile._RealGetContents  # type: ignore[attr-defined]

    def counting(self: zipfile.ZipFile) -> None:
        parsed.append(1)
        real(self)

    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", counting)
    refs = list(find_dumps([path]))
    assert len(refs) == 300
    for ref in refs:
        with load_dump(ref) as loaded:
            assert loaded.size == len(data)
    assert len(parsed) == 1


def _patch_zip(blob: bytes, *, flags: int | None = None, method: int | None = None) -> bytes:
    b = bytearray(blob)
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # flags at +6 / +8
        at = b.index(sig)
        if flags is not None:
            b[at + off: at + off + 2] = flags.to_bytes(2, "little")
        if method is not None:
            b[at + off + 2: at + off + 4] = method.to_bytes(2, "little")
    return bytes(b)


@pytest.mark.parametrize("how", ["encrypted", "method99"])
def test_encrypted_or_unknown_method_member_is_a_clear_dump_error(how: str,
                                                                  tmp_path: Path) -> None:
    blob = _zip(SAMPLE.read_bytes())
    blob = _patch_zip(blob, flags=1) if how == "encrypted" else _patch_zip(blob, method=99)
    path = tmp_path / "x.zip"
    path.write_bytes(blob)
    with pytest.raises(UnsupportedArchiveError) as info:
        dumplib.open(path)
    assert ("encrypted" if how == "encrypted" else "method 99") in str(info.value)
    assert isinstance(info.value, DumpError)
    from dumplib.triage.run import triage

    (row,) = triage([path], jobs=0)
    assert row.bucket == "ERROR/UnsupportedArchiveError"
    cli = subprocess.run([sys.executable, "-m", "dumplib", "info", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=False)
    assert cli.returncode == 1 and len(cli.stderr.strip().splitlines()) == 1, cli.stderr


def test_zstd_without_the_package_says_what_to_install(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.dmp.zst"
    path.write_bytes(_zstd(SAMPLE.read_bytes()))
    monkeypatch.setitem(sys.modules, "zstandard", None)
    with pytest.raises(UnsupportedArchiveError, match="pip install"):
        dumplib.open(path)


def test_corrupt_and_wrong_archives(tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    cut = tmp_path / "cut.dmp.xz"
    cut.write_bytes(lzma.compress(data)[:600])
    with pytest.raises(ArchiveError, match="decompress"):
        dumplib.open(cut)
    two = tmp_path / "two.zip"
    two.write_bytes(_zip(data, **{"b.dmp": data}))
    with pytest.raises(ArchiveError, match="2 dump members"):
        dumplib.open(two)
    text = tmp_path / "notes.gz"
    text.write_bytes(gzip.compress(b"hello"))
    with pytest.raises(NotADumpError, match="starts with 68656c6c"):
        dumplib.open(text)


def test_expansion_cap_is_relative_to_the_input(tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    path = tmp_path / "a.dmp.gz"
    path.write_bytes(gzip.compress(data))
    with pytest.raises(ExpansionLimitError):
        expand(path, "gzip", max_size=len(data) - 1)
    got = expand(path, "gzip", in_memory_limit=100, spill_dir=str(tmp_path))
    try:
        assert got.data is None and got.size == len(data)
        assert [p.name for p in tmp_path.iterdir()] == ["a.dmp.gz"]  # spill file unlinked
        src = got.source()
        assert src.read(0, len(data)) == data
        src.close()
    finally:
        got.close()
    assert tempfile.gettempdir()


@pytest.mark.parametrize(("magic", "what"), [(b"7z\xbc\xaf\x27\x1c", "7-Zip"),
                                             (b"Rar!\x1a\x07\x00", "RAR"),
                                             (b"MSCF\0\0\0\0", "CAB")])
def test_other_containers_say_what_they_are(magic: bytes, what: str, tmp_path: Path) -> None:
    path = tmp_path / "crash.bin"
    path.write_bytes(magic + bytes(64))  # the container signatures of 7zFormat.txt, RAR, [MS-CAB]
    with pytest.raises(UnsupportedArchiveError, match=what):
        dumplib.open(path)
