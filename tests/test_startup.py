"""Start-up stays cheap (issue #16): what ``import dumplib`` and each command load.

Each check runs a fresh interpreter and reads its ``sys.modules`` afterwards, so
it sees exactly what the import or command pulled in -- nothing about time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "dumplib" / "samples" / "test.dmp"

#: Optional heavy libraries that must never load at ``import dumplib``.
HEAVY = ("rich", "capstone", "pandas", "dask", "matplotlib")


def _loaded_after(code: str) -> set[str]:
    """Top-level package names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = (
        f"{code}\n"
        "import sys, json\n"
        "sys.stdout.flush()\n"
        "sys.__stderr__.write('\\n@@' + json.dumps(sorted(sys.modules)) + '\\n')\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    mods = json.loads(proc.stderr.rsplit("\n@@", 1)[1])
    return set(mods)


def _top(mods: set[str]) -> set[str]:
    return {m.split(".", 1)[0] for m in mods}


def test_import_dumplib_loads_no_heavy_library() -> None:
    mods = _loaded_after("import dumplib")
    assert not _top(mods) & set(HEAVY)
    # and nothing of the layers above the exceptions: they load on first use
    assert not {m for m in mods if m.startswith("dumplib.")} - {"dumplib._exc"}


def test_opening_a_dump_loads_only_format_and_model_layers() -> None:
    mods = _loaded_after(f"import dumplib\nd = dumplib.open({str(SAMPLE)!r})\n"
                         "d.threads, d.modules, d.exception, d.system")
    assert not _top(mods) & set(HEAVY)
    layers = {m.split(".")[1] for m in mods if m.startswith("dumplib.") and m.count(".") >= 1}
    assert layers <= {"_exc", "_record", "dump", "source", "format", "model"}, layers
    assert "construct" not in _top(mods)


def test_public_names_still_resolve() -> None:
    import dumplib

    assert callable(dumplib.open) and isinstance(dumplib.Dump, type)
    assert dumplib.Thread.__module__ == "dumplib.model.objects"
    import dumplib.triage.pool  # the subpackage must not shadow the function

    assert callable(dumplib.triage) and not isinstance(dumplib.triage, type(sys))
    from dumplib import triage

    assert triage is dumplib.triage
    assert set(dumplib.__all__) <= set(dir(dumplib))
    with pytest.raises(AttributeError):
        dumplib.no_such_name  # noqa: B018


def _cli(args: str) -> str:
    return f"import sys\nfrom dumplib.cli import main\nrc = main({args.split()!r})\n"


@pytest.mark.parametrize("command", [f"info --json {SAMPLE}", f"threads --json {SAMPLE}",
                                     f"stack --all --json {SAMPLE}", "err --json 0xC0000005",
                                     f"map --json {SAMPLE}", f"modules --json {SAMPLE}"])
def test_json_commands_do_not_load_rich(command: str) -> None:
    mods = _top(_loaded_after(_cli(command)))
    assert "rich" not in mods
    assert "capstone" not in mods or command.startswith("stack")
    assert not mods & {"pandas", "dask", "matplotlib"}


def test_info_json_loads_no_analysis_symbols_or_triage() -> None:
    mods = _loaded_after(_cli(f"info --json {SAMPLE}"))
    # no views at all: the text escaper loads only for the table or a warning to print,
    # and neither the kernel model, the vendor-stream parsers nor the CPU contexts load
    assert not {m for m in mods if m.startswith(("dumplib.analysis", "dumplib.triage",
                                                 "dumplib.symbols", "dumplib.pe",
                                                 "dumplib.unwind", "dumplib.views",
                                                 "dumplib.model.kernel", "dumplib.model.vendor",
                                                 "dumplib.format.context"))}
    assert not {"dataclasses", "inspect", "shutil", "typing"} & mods
    assert not _top(mods) & {"rich", "capstone", "construct"}


def test_table_output_still_uses_rich() -> None:
    """The other half of the contract: people get rich tables (so the lazy import works)."""
    mods = _top(_loaded_after(_cli(f"info {SAMPLE}")))
    assert "rich" in mods


def test_cli_triage_timeout_default_matches_the_pool() -> None:
    import dumplib.cli.triage as cli_triage
    from dumplib.triage import DEFAULT_TIMEOUT

    assert cli_triage.DEFAULT_TIMEOUT == DEFAULT_TIMEOUT


def test_cli_triage_memory_limit_default_matches_the_worker() -> None:
    import dumplib.cli.triage as cli_triage
    from dumplib.triage.worker import DEFAULT_MEMORY_LIMIT

    assert cli_triage.DEFAULT_MEMORY_LIMIT == DEFAULT_MEMORY_LIMIT


def test_command_owners_match_what_each_module_registers() -> None:
    """``main`` builds only the named command's parser from ``COMMAND_OWNERS``; the table
    must name, for every command, the module whose ``register`` really adds it."""
    import argparse
    import importlib

    from dumplib.cli import COMMAND_MODULES, COMMAND_OWNERS

    registered: dict[str, str] = {}
    for name in COMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(name).register(sub)
        registered.update(dict.fromkeys(sub.choices, name))
    assert registered == COMMAND_OWNERS


def test_info_builds_only_its_own_parser_but_help_lists_every_command() -> None:
    mods = _loaded_after(_cli(f"info --json {SAMPLE}"))
    others = {m for m in mods if m.startswith(("dumplib.cli.", "dumplib.shell"))}
    assert others == {"dumplib.cli.basic", "dumplib.cli.common", "dumplib.cli.render"}, others
    proc = subprocess.run([sys.executable, "-m", "dumplib", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    from dumplib.cli import COMMAND_OWNERS

    assert all(f"    {name} " in proc.stdout for name in COMMAND_OWNERS)
