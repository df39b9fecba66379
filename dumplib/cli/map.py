"""``dumplib map FILE --out map.svg|map.png``: save the address-space map.

Needs matplotlib (the ``plot`` extra). With ``--json`` the layout is printed
instead of (or besides) the picture: the bands, regions and marks as the
picture draws them.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from dumplib.cli.common import add_dump_args, fail, run_on_dump

if TYPE_CHECKING:  # imported when the command runs (issue #16)
    from rich.console import Console

    from dumplib.dump import Dump

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["layout_json", "register"]


def layout_json(dump: Dump, max_bands: int) -> dict[str, Any]:
    """The map's layout as one JSON document (integers stay integers)."""
    from dumplib.views.maplayout import map_layout

    lay = map_layout(dump, max_bands=max_bands)
    return {
        "source": lay.source,
        "title": lay.title,
        "fault": lay.fault,
        "bands": [{"start": b.start, "end": b.end} for b in lay.bands],
        "regions": [
            {"start": r.start, "end": r.end, "kind": r.kind, "protection": r.protection}
            for r in lay.regions
        ],
        "marks": [
            {"start": m.start, "end": m.end, "kind": m.kind, "label": m.label, "hot": m.hot}
            for m in lay.marks
        ],
    }


def _map(args: argparse.Namespace, dump: Dump, console: Console) -> Any:
    doc = layout_json(dump, args.bands) if args.json else None
    if args.out:
        from dumplib.views.plot import save_map

        save_map(dump, args.out, max_bands=args.bands)
        if not args.json:
            console.print(f"map written to {args.out}")
    return doc


def _run(args: argparse.Namespace) -> int:
    if not args.out and not args.json:
        return _usage("give --out FILE.svg|FILE.png (or --json for the layout)")
    if args.out and not args.out.lower().endswith((".svg", ".png")):
        return _usage(f"--out must end in .svg or .png: {args.out}")
    if args.out:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return fail("the map needs matplotlib: pip install 'dumplib[plot]'")
    return run_on_dump(args, _map)


def _usage(message: str) -> int:
    import sys

    from dumplib.cli.common import EXIT_USAGE

    sys.stderr.write(f"dumplib map: error: {message}\n")
    return EXIT_USAGE


def register(sub: Any) -> None:
    """Add the ``map`` subcommand."""
    help_text = "save a picture of the process's address space (SVG or PNG)"
    p: argparse.ArgumentParser = sub.add_parser("map", help=help_text, description=help_text)
    add_dump_args(p)
    p.add_argument("--out", "-o", metavar="FILE", help="where to write the map (.svg or .png)")
    p.add_argument("--bands", type=int, default=24, metavar="N",
                   help="cut the address space into at most N blocks (default 24)")
    p.set_defaults(run=_run)
