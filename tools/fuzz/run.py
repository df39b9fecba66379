"""Coverage-guided fuzzing of dumplib's readers with atheris.

Usage::

    python tools/fuzz/run.py TARGET [--minutes M | --runs N] [--corpus DIR] [--crashes DIR]

TARGET is one of ``dump``, ``pe``, ``pdb``, ``sym`` (see ``targets.py``). The
corpus is seeded from the repository's fixtures of that kind (real dumps,
images, PDBs and .sym files) and grows in ``--corpus`` (default
``.fuzz/corpus/TARGET``). A crash -- any exception other than a DumpError, an
out-of-memory or a timeout -- is written to ``--crashes`` (default
``.fuzz/crashes``); turn each into a regression test under
``tests/fuzz_regressions/`` (``tests/test_fuzz_regressions.py`` replays them).

Each input is limited to ``--timeout`` seconds (default 10) and the process to
``--rss-mb`` megabytes (default 2048), so hangs and runaway allocations count as
crashes too.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEEDS = {
    "dump": ["fixtures/**/*.dmp", "dumplib/samples/*.dmp"],
    "pe": ["fixtures/**/*.exe", "fixtures/**/*.dll"],
    "pdb": ["fixtures/**/*.pdb"],
    "sym": ["fixtures/**/*.sym"],
    # crafted shapes (tools/fuzz/crafted.py): the fuzzer's bytes are parameters
    "aliased": [],
    "zerofill": [],
    "archive": [],
}
#: Seeds larger than this are left out (they slow every mutation down).
MAX_SEED_BYTES = 2 << 20


def seed_corpus(target: str, corpus: Path) -> int:
    """Copy the fixtures of ``target``'s kind into ``corpus``; return how many."""
    corpus.mkdir(parents=True, exist_ok=True)
    count = 0
    for pattern in SEEDS[target]:
        for path in ROOT.glob(pattern):
            if path.is_file() and path.stat().st_size <= MAX_SEED_BYTES:
                dest = corpus / f"seed-{path.name}"
                if not dest.exists():
                    shutil.copyfile(path, dest)
                count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run atheris on one target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=sorted(SEEDS))
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, help="how long to fuzz")
    length.add_argument("--runs", type=int, help="how many inputs to try")
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--crashes", type=Path, default=ROOT / ".fuzz" / "crashes")
    parser.add_argument("--timeout", type=int, default=10)
    parser.add_argument("--rss-mb", type=int, default=2048)
    parser.add_argument("--max-len", type=int, default=1 << 20)
    args = parser.parse_args(argv)

    import atheris  # optional: pip install atheris

    corpus = args.corpus or ROOT / ".fuzz" / "corpus" / args.target
    seeds = seed_corpus(args.target, corpus)
    args.crashes.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports(include=["dumplib"]):
        # import every layer the targets reach now, so all of it is instrumented
        # (the targets themselves import some of these lazily)
        import dumplib.analysis
        import dumplib.pdb
        import dumplib.pe
        import dumplib.symbols
        import dumplib.unwind.walker  # noqa: F401
        from tools.fuzz.targets import TARGETS
    target = TARGETS[args.target]

    def one_input(data: bytes) -> None:
        target(data)

    libfuzzer_args = [
        sys.argv[0],
        str(corpus),
        f"-artifact_prefix={args.crashes}/{args.target}-",
        f"-timeout={args.timeout}",
        f"-rss_limit_mb={args.rss_mb}",
        f"-max_len={args.max_len}",
        "-print_final_stats=1",
    ]
    if args.minutes is not None:
        libfuzzer_args.append(f"-max_total_time={int(args.minutes * 60)}")
    if args.runs is not None:
        libfuzzer_args.append(f"-runs={args.runs}")
    print(f"fuzzing {args.target}: {seeds} seeds in {corpus}", flush=True)
    atheris.Setup(libfuzzer_args, one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
