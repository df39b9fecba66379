"""Sample dumps shipped with dumplib, for the README's first command and for demos.

Three samples are bundled:

- ``caseb`` (the default): the wine-made replica of field case B, a .NET-style
  service crashing on a double I/O completion, with the program's images and
  PDBs beside the dump so stacks and names resolve offline;
- ``test.dmp``: breakpad's x86 ``test_app.exe`` crash from rust-minidump's corpus;
- ``linux-mini.dmp``: a Linux x86-64 breakpad crash (SIGSEGV) from the same corpus.
"""

from __future__ import annotations

from dumplib._exc import TYPE_CHECKING

if TYPE_CHECKING:  # pathlib loads when a sample is asked for, not at ``dumplib --help``
    from pathlib import Path

__all__ = ["DEFAULT_SAMPLE", "SAMPLES", "sample_path", "sample_symbols"]

#: The sample used by ``dumplib ... --sample`` when no name is given.
DEFAULT_SAMPLE = "caseb"
#: Bundled sample names.
SAMPLES = ("caseb", "test.dmp", "linux-mini.dmp")


def _root() -> Path:
    from importlib import resources  # not at import time: ``dumplib --help`` stays quick
    from pathlib import Path

    return Path(str(resources.files(__name__)))


def sample_path(name: str = DEFAULT_SAMPLE) -> Path:
    """Path of a bundled sample dump (one of :data:`SAMPLES`).

    Raises:
        FileNotFoundError: no sample of that name is bundled.
    """
    path = _root() / name
    if path.is_dir():
        path = path / f"{name}.dmp"
    if name not in SAMPLES or not path.is_file():
        raise FileNotFoundError(f"no bundled sample named {name!r} (have: {', '.join(SAMPLES)})")
    return path


def sample_symbols(name: str = DEFAULT_SAMPLE) -> list[str]:
    """Symbol directories that belong to a sample (its images and PDBs), possibly empty."""
    path = _root() / name
    return [str(path)] if path.is_dir() else []
