"""Hostile symbol servers (issue 14): every HTTP fault is recorded, never raised;
time, bytes and requests per analysis are bounded; no temporary cache is left.

Each server here is a loopback socket (127.0.0.1) that answers with the exact
bytes of one fault; the expected exception types are http.client's own (what
the standard library raises for those bytes, RFC 9112 framing).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import dumplib
from dumplib.symbols.download import DownloadBudget, forget_missing
from dumplib.symbols.path import Outcome, SymbolLocator
from tests._http import HostileServer
from tests._limits import ROOT
from tests.test_symbols_path import sym_verifier

SAMPLE = ROOT / "dumplib" / "samples" / "test.dmp"
Reply = Callable[[HostileServer, socket.socket], None]


def _bad_status(s: HostileServer, c: socket.socket) -> None:
    c.sendall(b"SPDY/9 what\r\n\r\n")


def _line_too_long(s: HostileServer, c: socket.socket) -> None:
    c.sendall(b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n")


def _too_many_headers(s: HostileServer, c: socket.socket) -> None:  # plain HTTPException
    c.sendall(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 120 + b"\r\n")


def _incomplete_chunked(s: HostileServer, c: socket.socket) -> None:
    c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\nMODULE ")


def _short_body(s: HostileServer, c: socket.socket) -> None:
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nMODULE windows")


def _bad_chunk_size(s: HostileServer, c: socket.socket) -> None:
    c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc")


FAULTS: dict[str, Reply] = {
    "BadStatusLine": _bad_status,
    "LineTooLong": _line_too_long,
    "HTTPException": _too_many_headers,
    "IncompleteRead": _incomplete_chunked,
    "short body": _short_body,
    "bad chunk size": _bad_chunk_size,
}


@pytest.fixture(autouse=True)
def _fresh_negative_cache() -> Iterator[None]:
    forget_missing()
    yield
    forget_missing()


def _serve(reply: Reply) -> Iterator[HostileServer]:
    srv = HostileServer(reply)
    try:
        yield srv
    finally:
        srv.close()


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_every_http_fault_is_an_attempt_and_a_fault(fault: str, tmp_path: Path) -> None:
    for srv in _serve(FAULTS[fault]):
        locator = SymbolLocator([f"srv*{tmp_path / 'c'}*{srv.url}"], timeout=2)
        result = locator.find(["a.sym"], "01", sym_verifier("01"), folder="a.pdb")
        assert result.path is None
        assert result.attempts and result.attempts[0].outcome is Outcome.ERROR
        assert locator.faults and srv.url in locator.faults[0]
        assert not list((tmp_path / "c").rglob(".download*"))


@pytest.mark.parametrize("fault", ["BadStatusLine", "IncompleteRead", "LineTooLong"])
def test_stacks_and_analyze_never_raise_on_a_broken_server(fault: str, tmp_path: Path) -> None:
    for srv in _serve(FAULTS[fault]):
        symbols = [f"srv*{tmp_path / 'c'}*{srv.url}"]
        with dumplib.open(SAMPLE) as dump:
            stacks = dump.stacks(symbols)
            assert len(stacks) == len(dump.threads)
            report = dumplib.analyze(dump, symbols=symbols)
        assert srv.requests, "the server was asked"
        assert any(srv.url in n for n in report.notes), report.notes
        cli = subprocess.run(
            [sys.executable, "-m", "dumplib", "stack", str(SAMPLE), "--symbols", symbols[0]],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )
        assert cli.returncode == 0 and "Traceback" not in cli.stderr, cli.stderr


def _drip(s: HostileServer, c: socket.socket) -> None:
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(200):
        c.sendall(b"M")
        s.sent += 1
        time.sleep(0.1)


def test_a_dripping_server_meets_the_download_deadline(tmp_path: Path) -> None:
    for srv in _serve(_drip):
        budget = DownloadBudget(download_deadline=1.0)
        locator = SymbolLocator([f"srv*{tmp_path / 'c'}*{srv.url}"], timeout=5, budget=budget)
        t0 = time.monotonic()
        first = locator.find(["a.sym"], "01", sym_verifier("01"), folder="a.pdb")
        second = locator.find(["b.sym"], "01", sym_verifier("01"), folder="b.pdb")
        took = time.monotonic() - t0
    assert took < 3, took  # the per-read timeout (5 s) never fires on a drip
    assert "deadline" in first.attempts[0].detail
    assert "unreachable" in second.attempts[0].detail and len(srv.requests) == 1


def _endless(s: HostileServer, c: socket.socket) -> None:
    c.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
    block = b"\0" * 65536
    while s.sent < 64 << 20:
        c.sendall(block)
        s.sent += len(block)


def test_an_endless_body_is_cut_once_and_the_server_dropped(tmp_path: Path) -> None:
    for srv in _serve(_endless):
        locator = SymbolLocator([f"srv*{tmp_path / 'c'}*{srv.url}"], timeout=5,
                                max_download=1 << 20)
        for name in ("a", "b", "c"):
            r = locator.find([f"{name}.sym", f"{name}.pdb.sym"], "01", sym_verifier("01"),
                             folder=f"{name}.pdb")
            assert r.path is None
        assert len(srv.requests) == 1
        assert locator.budget.received <= 1 << 20
        assert "endless body" in locator.faults[0]
        assert not list((tmp_path / "c").rglob(".download*"))


def test_total_byte_budget(tmp_path: Path) -> None:
    served = tmp_path / "served" / "s"
    for i in range(5):
        d = served / f"m{i}.pdb" / "01"
        d.mkdir(parents=True)
        (d / f"m{i}.sym").write_bytes(b"X" * 300_000)
    from tests._http import StaticServer

    srv = StaticServer(tmp_path / "served", "/s")
    try:
        budget = DownloadBudget(total_bytes=700_000)
        locator = SymbolLocator([f"srv*{tmp_path / 'c'}*{srv.url}"], timeout=5, budget=budget)
        for i in range(5):
            locator.find([f"m{i}.sym"], "01", lambda p: "not it", folder=f"m{i}.pdb")
        assert len(srv.requests) == 3  # 300 k + 300 k, the third crosses 700 k
        assert budget.received <= 700_000 + (1 << 20)
        assert any("byte budget" in f for f in locator.faults)
    finally:
        srv.close()


def _slow_404(s: HostileServer, c: socket.socket) -> None:
    time.sleep(0.2)
    c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


def test_slow_404s_are_capped_per_dump_and_remembered(tmp_path: Path) -> None:
    for srv in _serve(_slow_404):
        path = [f"srv*{tmp_path / 'c'}*{srv.url}"]
        budget = DownloadBudget(max_requests=8)
        locator = SymbolLocator(path, timeout=5, budget=budget)
        names = [f"m{i}" for i in range(10)]
        t0 = time.monotonic()
        for n in names:
            locator.find([f"{n}.sym", f"{n}.pdb.sym", f"{n}.pdb", f"{n}.dll"], "01",
                         sym_verifier("01"), folder=f"{n}.pdb")
        took = time.monotonic() - t0
        assert len(srv.requests) == 8, srv.requests  # not 40
        assert took < 8 * 0.2 + 3
        assert any("request budget" in f for f in locator.faults)
        # Another dump of the same process asks nothing already answered "not found".
        again = SymbolLocator(path, timeout=5)
        for n in names[:2]:
            r = again.find([f"{n}.sym", f"{n}.pdb.sym", f"{n}.pdb", f"{n}.dll"], "01",
                           sym_verifier("01"), folder=f"{n}.pdb")
            assert all(a.outcome is Outcome.NOT_FOUND for a in r.attempts)
        assert len(srv.requests) == 8


def test_dump_close_removes_the_temporary_symbol_cache(tmp_path: Path) -> None:
    for srv in _serve(_slow_404):
        before = {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("dumplib-symbols-")}
        with dumplib.open(SAMPLE) as dump:
            dump.stacks([f"srv*{srv.url}"])
            made = {n for n in os.listdir(tempfile.gettempdir())
                    if n.startswith("dumplib-symbols-")} - before
            assert made, "srv*URL without a cache made a temporary directory"
        after = {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("dumplib-symbols-")}
        assert after - before == set()
