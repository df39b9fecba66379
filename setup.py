"""Build hook: ship the repository's top-level ``signatures/`` inside the package.

The signatures live at the top of the repository (they are data, edited on their
own), but an installed dumplib must find them without the checkout. This copies
``signatures/*.toml`` to ``dumplib/analysis/signatures/`` in the build tree, where
``dumplib.analysis.signatures.builtin_signature_dir`` looks first. All other
metadata is in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithSignatures(build_py):
    """``build_py`` that also copies the signature files into the package."""

    def run(self) -> None:
        super().run()
        source = Path(__file__).resolve().parent / "signatures"
        target = Path(self.build_lib) / "dumplib" / "analysis" / "signatures"
        target.mkdir(parents=True, exist_ok=True)
        for toml in sorted(source.glob("*.toml")):
            shutil.copy2(toml, target / toml.name)


setup(cmdclass={"build_py": BuildWithSignatures})
