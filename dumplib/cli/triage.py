"""``dumplib triage PATH...``: analyse a pile of dumps and group them by crash bucket.

Prints a table of buckets (count, first and last dump time, processes,
versions, an example path) with a progress bar while it works when stderr is
a terminal, and as a log line every 10 s otherwise (short runs print
nothing extra); ``--json`` prints the summary as one
JSON document instead. Rows go to ``--out FILE.jsonl`` or ``FILE.parquet``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dumplib._exc import DumpError
from dumplib.cli.common import EXIT_OK, EXIT_USAGE, console, emit_json, fail

if TYPE_CHECKING:  # imported when the command runs (issue #16)

    from dumplib.triage import BucketSummary, TriageResult

#: ``dumplib.triage.DEFAULT_TIMEOUT``, repeated here so that building the parser
#: does not import the process pool (tests/test_startup.py checks they agree).
DEFAULT_TIMEOUT = 120.0
#: ``dumplib.triage.worker.DEFAULT_MEMORY_LIMIT`` (bytes), repeated for the same reason.
DEFAULT_MEMORY_LIMIT = 2048 << 20

if TYPE_CHECKING:
    from dumplib.views.fit import FittedTable

__all__ = ["EXIT_INTERRUPTED", "register", "summary_json", "summary_table"]

#: Exit status after Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


def _when(t: int | None) -> str:
    if t is None:
        return "-"
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def _few(items: tuple[str, ...], n: int = 3) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" (+{len(items) - n})" if len(items) > n else "")


def summary_table(result: TriageResult, buckets: list[BucketSummary]) -> FittedTable:
    """The bucket summary as a fitted table: bucket ids whole on one line (never wrapped,
    so they can be copied); when narrow, dropped in this order: versions, first, processes,
    last, example."""
    from dumplib.views.fit import Col, FittedTable

    title = (f"{len(result)} dumps, {len(buckets)} buckets "
             f"({result.analysed} analysed, {result.skipped} already known, "
             f"{result.errors} unreadable)")
    cols = [Col("Count", justify="right"), Col("Bucket"), Col("First", drop=2),
            Col("Last", drop=4), Col("Processes", keep=False, drop=3),
            Col("Versions", keep=False, drop=1), Col("Example", keep=False, drop=5)]
    rows = []
    for b in buckets:
        example = b.example if b.error is None else f"{b.example} ({b.error})"
        rows.append([str(b.count), b.bucket, _when(b.first_time), _when(b.last_time),
                     _few(b.processes), _few(b.versions), example])
    return FittedTable(cols, rows, title=title)


def summary_json(result: TriageResult, buckets: list[BucketSummary],
                 rows: bool = False) -> dict[str, Any]:
    """The summary as one JSON object (with every row when ``rows``)."""
    doc: dict[str, Any] = {
        "dumps": len(result),
        "analysed": result.analysed,
        "skipped": result.skipped,
        "errors": result.errors,
        "out": result.out,
        "buckets": [b.to_json() for b in buckets],
    }
    if rows:
        doc["rows"] = [r.to_json() for r in result]
    return doc


@contextmanager
def _progress(show: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not show:  # not a terminal: periodic log lines instead of a bar
        from dumplib.triage.progress import LogProgress

        log = LogProgress(sys.stderr)
        yield log
        log.finish()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress("[progress.description]{task.description}", BarColumn(),
                   MofNCompleteColumn(), TimeRemainingColumn(),
                   console=Console(stderr=True), transient=True)
    task = bar.add_task("triage", total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update


def _client(address: str) -> Any:
    distributed = importlib.import_module("distributed")
    return distributed.Client(address, timeout="30s")


def triage(*args: Any, **kwargs: Any) -> TriageResult:
    """:func:`dumplib.triage.triage`, imported when the command runs (the process
    pool is not needed to build the parser)."""
    from dumplib.triage import triage as run_triage

    return run_triage(*args, **kwargs)


def _run(args: argparse.Namespace) -> int:
    if args.rows and not args.json:
        sys.stderr.write("dumplib triage: error: --rows needs --json\n")
        return EXIT_USAGE
    from dumplib.triage import WorkerStartError

    client = None
    if args.dask:
        try:
            client = _client(args.dask)
        except ImportError:
            sys.stderr.write("dumplib: error: --dask needs the 'distributed' package "
                             "(pip install 'dumplib[dask]')\n")
            return EXIT_USAGE
        except (OSError, TimeoutError) as exc:
            return fail(f"cannot reach the Dask scheduler at {args.dask}: {exc}")
    try:
        with _progress(sys.stderr.isatty()) as progress:
            result = triage(args.paths, jobs=args.jobs, client=client, out=args.out,
                            symbols=args.symbols or [], timeout=args.timeout,
                            modules=args.module or [], retry_errors=args.retry_errors,
                            progress=progress,
                            memory_limit=args.memory_limit << 20 if args.memory_limit else None)
    except ValueError as exc:
        sys.stderr.write(f"dumplib: error: {exc}\n")
        return EXIT_USAGE
    except ImportError as exc:
        sys.stderr.write(f"dumplib: error: Parquet output needs pyarrow "
                         f"(pip install 'dumplib[parquet]'): {exc}\n")
        return EXIT_USAGE
    except (DumpError, WorkerStartError) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        kept = f"; the rows so far are in {args.out}, run again to resume" if args.out else ""
        sys.stderr.write(f"dumplib: interrupted{kept}\n")
        return EXIT_INTERRUPTED
    finally:
        if client is not None:
            client.close()
    buckets = result.summary()
    try:
        if args.json:
            emit_json(summary_json(result, buckets, rows=args.rows))
        else:
            console().print(summary_table(result, buckets))
    except BrokenPipeError:
        pass
    return EXIT_OK


def _jobs(text: str) -> int:
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return n


def _seconds(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return v


def register(sub: Any) -> None:
    """Add the ``triage`` command."""
    help_text = "analyse many dumps in parallel and group them by crash bucket"
    p: argparse.ArgumentParser = sub.add_parser("triage", help=help_text, description=help_text)
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="dump files and directories (.dmp, .mdmp, also .gz/.xz and .zip)")
    p.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N",
                   help="worker processes (default: all cores; 0 = in this process)")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run on an existing Dask cluster, e.g. tcp://host:8786")
    p.add_argument("--out", "-o", metavar="FILE",
                   help="result file, .jsonl or .parquet; dumps already in it are skipped")
    p.add_argument("--symbols", action="append", metavar="S",
                   help="symbol path entry (directory, file, srv*CACHE*URL); repeatable")
    p.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"time limit per dump (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--memory-limit", type=int, default=DEFAULT_MEMORY_LIMIT >> 20, metavar="MB",
                   help="memory a worker may use per dump beyond the dump's size "
                        f"(default {DEFAULT_MEMORY_LIMIT >> 20}; 0: no limit)")
    p.add_argument("--module", action="append", metavar="NAME",
                   help="also record this module's version in every row; repeatable")
    p.add_argument("--retry-errors", action="store_true",
                   help="redo dumps whose stored row is an error")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("--rows", action="store_true", help="with --json: include every row")
    p.set_defaults(run=_run)
