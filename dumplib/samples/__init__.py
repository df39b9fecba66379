"""Sample dumps shipped with dumplib, for the README's first command and for demos."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["DEFAULT_SAMPLE", "sample_path"]

#: The sample used by ``dumplib ... --sample`` when no name is given.
DEFAULT_SAMPLE = "test.dmp"


def sample_path(name: str = DEFAULT_SAMPLE) -> Path:
    """Path of a bundled sample dump.

    Raises:
        FileNotFoundError: no sample of that name is bundled.
    """
    path = Path(str(resources.files(__name__).joinpath(name)))
    if not path.is_file():
        raise FileNotFoundError(f"no bundled sample named {name!r}")
    return path
