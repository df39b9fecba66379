"""Cut a breakpad .sym down to the records that cover given module offsets.

Used to keep a peer's multi-megabyte test .sym small in fixtures/: the FUNC
blocks (with their line and INLINE records) and STACK CFI INIT blocks whose
ranges hold one of the offsets are kept, with the FILE and INLINE_ORIGIN
records they refer to, the MODULE/INFO header and every PUBLIC record. Record
text is copied unchanged; ids are not renumbered.

    python tools/subset_breakpad_sym.py IN.sym OUT.sym 0x14cd4 0x423d ...
"""

from __future__ import annotations

import sys


def subset(lines: list[str], offsets: set[int]) -> list[str]:
    """The lines of a .sym that matter for ``offsets``."""
    header: list[str] = []
    files: dict[str, str] = {}
    origins: dict[str, str] = {}
    publics: list[str] = []
    blocks: list[tuple[str, list[str]]] = []  # (kind, lines)
    for line in lines:
        word = line.split(" ", 1)[0]
        if word in ("MODULE", "INFO"):
            header.append(line)
        elif word == "FILE":
            files[line.split()[1]] = line
        elif word == "INLINE_ORIGIN":
            origins[line.split()[1]] = line
        elif word == "PUBLIC":
            publics.append(line)
        elif word == "FUNC":
            blocks.append(("FUNC", [line]))
        elif line.startswith("STACK CFI INIT"):
            blocks.append(("CFI", [line]))
        elif line.startswith("STACK CFI") or (blocks and word not in ("STACK",)):
            if blocks:
                blocks[-1][1].append(line)
        else:
            blocks.append(("OTHER", [line]))

    def covers(first: str, kind: str) -> bool:
        parts = first.split()
        if kind == "FUNC":
            parts = parts[2:] if parts[1] == "m" else parts[1:]
        else:
            parts = parts[3:]
        start, size = int(parts[0], 16), int(parts[1], 16)
        return any(start <= off < start + size for off in offsets)

    kept: list[str] = []
    used_files: set[str] = set()
    used_origins: set[str] = set()
    for kind, block in blocks:
        if kind == "OTHER" or not covers(block[0], kind):
            continue
        kept.extend(block)
        if kind == "FUNC":
            for line in block[1:]:
                parts = line.split()
                if parts[0] == "INLINE":
                    used_files.add(parts[3])
                    used_origins.add(parts[4])
                elif len(parts) >= 4:
                    used_files.add(parts[3])
    return (
        header
        + [files[i] for i in sorted(used_files, key=int) if i in files]
        + [origins[i] for i in sorted(used_origins, key=int) if i in origins]
        + kept
        + publics
    )


def main(argv: list[str]) -> int:
    """Command-line entry: IN OUT OFFSET..."""
    src, dst, *offs = argv
    with open(src, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    out = subset(lines, {int(o, 16) for o in offs})
    with open(dst, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
