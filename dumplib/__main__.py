"""``python -m dumplib``: the same as the ``dumplib`` command."""

from __future__ import annotations

import sys

from dumplib.cli import main

if __name__ == "__main__":
    sys.exit(main())
