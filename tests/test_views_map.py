"""Pictures: the address-space map (layout, SVG structure, PNG size, CLI) and the
triage bucket chart.

The layout is checked against dumps whose regions are known by construction
(dumplib's builder) and against the case B replica's ground truth
(``runtime.json``: module bases and thread ids); the pictures by what the SVG
holds (element ids for every region, module and stack) and the PNG's size.
"""

from __future__ import annotations

import itertools
import json
import struct
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dumplib
import dumplib.views as views
from dumplib.builder import DumpBuilder
from dumplib.cli import main
from dumplib.views.maplayout import map_layout, protection_class

pytest.importorskip("matplotlib")

CASEB = Path(__file__).resolve().parent.parent / "fixtures" / "wine" / "caseb"
RUNTIME: dict[str, Any] = json.loads((CASEB / "runtime.json").read_text())
TRUTH: dict[str, Any] = json.loads((CASEB / "truth.json").read_text())

MEM_COMMIT, MEM_RESERVE, MEM_FREE = 0x1000, 0x2000, 0x10000
MEM_PRIVATE, MEM_MAPPED, MEM_IMAGE = 0x20000, 0x40000, 0x1000000

#: (base, size, state, protect, type, expected kind, expected protection class)
REGIONS = [
    (0x20000, 0x10000, MEM_RESERVE, 0, MEM_PRIVATE, "reserved", "noaccess"),
    (0x2E000, 0x1000, MEM_COMMIT, 0x104, MEM_PRIVATE, "private", "noaccess"),  # guard page
    (0x2F000, 0x1000, MEM_COMMIT, 0x04, MEM_PRIVATE, "private", "write"),
    (0x40000, 0x30000, MEM_FREE, 0x01, 0, None, None),                          # not drawn
    (0x5000_0000, 0x10000, MEM_COMMIT, 0x04, MEM_PRIVATE, "private", "write"),
    (0x6000_0000, 0x100000, MEM_COMMIT, 0x02, MEM_MAPPED, "mapped", "read"),
    (0x7FF6_0000_0000, 0x1000, MEM_COMMIT, 0x02, MEM_IMAGE, "image", "read"),
    (0x7FF6_0000_1000, 0xF000, MEM_COMMIT, 0x20, MEM_IMAGE, "image", "execute"),
    (0x7FF6_0001_0000, 0x10000, MEM_COMMIT, 0x08, MEM_IMAGE, "image", "write"),
]
APP_BASE = 0x7FF6_0000_0000


def _synthetic() -> dumplib.Dump:
    b = DumpBuilder("amd64", os_version=(10, 0, 19045))
    b.add_thread(0x10, context={"rip": APP_BASE + 0x1010, "rsp": 0x2F800}, stack_start=0x2F000,
                 stack=bytes(0x1000), name="main")
    b.add_module(r"C:\app\app.exe", base=APP_BASE, size=0x20000, version=(1, 2, 3, 4))
    b.add_memory(0x5000_0000, b"heap" * 16)
    for base, size, state, protect, typ, _, _ in REGIONS:
        b.add_memory_info(base, size, state=state, protect=protect, type=typ)
    b.set_exception(0x10, 0xC0000005, APP_BASE + 0x1010, parameters=(1, 0))
    b.set_misc_info(process_id=4242)
    return dumplib.open(b.to_bytes())


def test_layout_from_memory_info_follows_the_regions_built() -> None:
    lay = map_layout(_synthetic())
    assert lay.source == "memory_info"
    want = [(b, b + s, k, p) for b, s, _, _, _, k, p in REGIONS if k is not None]
    assert [(r.start, r.end, r.kind, r.protection) for r in lay.regions] == want
    marks = {(m.kind, m.ident): m for m in lay.marks}
    assert marks[("module", "app.exe")].hot and marks[("stack", "16")].hot
    assert lay.fault == APP_BASE + 0x1010
    assert "ACCESS_VIOLATION" in lay.fault_label and "app.exe+0x1010" in lay.fault_label


def test_protection_classes() -> None:
    assert protection_class(0x40) == "execute"
    assert protection_class(0x80) == "execute"
    assert protection_class(0x04) == "write"
    assert protection_class(0x02) == "read"
    assert protection_class(0x01) == "noaccess"
    assert protection_class(0x104) == "noaccess"
    assert protection_class(0x04, MEM_RESERVE) == "noaccess"


def test_layout_without_memory_info_uses_records(tmp_path: Path) -> None:
    d = dumplib.open(CASEB / "caseb.dmp")
    lay = map_layout(d)
    assert lay.source == "captured"
    modules = {m.ident: m for m in lay.marks if m.kind == "module"}
    for name in TRUTH["modules"]:
        assert modules[name].start == RUNTIME[f"module.{name}"]
    assert modules[TRUTH["faulting_module"]].hot
    stacks = {m.ident: m for m in lay.marks if m.kind == "stack"}
    assert set(stacks) == {str(RUNTIME["thread.main"]), str(RUNTIME["thread.iocp"])}
    assert stacks[str(RUNTIME["faulting_thread"])].hot
    # every captured byte is inside a drawn region
    drawn = [(r.start, r.end) for r in lay.regions]
    for start, size in d.memory.ranges:
        assert any(s <= start and start + size <= e for s, e in drawn)


def _ids(svg: Path) -> set[str]:
    root = ET.parse(svg).getroot()
    return {el.attrib["id"] for el in root.iter() if "id" in el.attrib}


def test_svg_has_an_element_per_region_module_and_stack(tmp_path: Path) -> None:
    d = dumplib.open(CASEB / "caseb.dmp")
    out = tmp_path / "map.svg"
    views.save_map(d, out)
    ids = _ids(out)
    lay = map_layout(d)
    for r in lay.regions:
        assert f"region-{r.start:x}" in ids
    for name in TRUTH["modules"]:
        assert f"module-{name}" in ids and f"module-{name}-label" in ids
    for role in ("main", "iocp"):
        assert f"stack-{RUNTIME['thread.' + role]}" in ids
    assert "fault" in ids
    text = out.read_text()
    assert TRUTH["faulting_module"] in text  # the labels are real text, not paths


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


def test_png_size_follows_the_figure(tmp_path: Path) -> None:
    d = _synthetic()
    fig = views.address_map(d)
    w_in, h_in = fig.get_size_inches()
    out = tmp_path / "map.png"
    views.save_map(d, out)
    assert _png_size(out) == (round(w_in * 150), round(h_in * 150))


def test_crowded_module_labels_stay_apart_and_inside_the_figure() -> None:
    b = DumpBuilder("amd64")
    base = 0x7FF8_0000_0000
    for i in range(120):  # packed like system DLLs: one band, many labels
        b.add_module(rf"C:\w\mod{i:03d}.dll", base=base, size=0x30000)
        base += 0x40000
    fig = views.address_map(dumplib.open(b.to_bytes()))
    ax = fig.axes[0]
    ys = sorted(t.get_position()[1] for t in ax.texts
                if str(t.get_gid()).startswith("module-"))
    assert len(ys) == 120
    bottom, top = ax.get_ylim()  # inverted: low addresses on top
    assert all(top <= y <= bottom for y in ys)
    assert min(b - a for a, b in itertools.pairwise(ys)) >= 0.69


def test_empty_dump_still_draws(tmp_path: Path) -> None:
    out = tmp_path / "empty.svg"
    views.save_map(dumplib.open(DumpBuilder("amd64").to_bytes()), out)
    assert "no module, thread stack or memory region" in out.read_text()


def test_save_map_refuses_other_formats(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        views.save_map(_synthetic(), tmp_path / "map.jpg")


@settings(max_examples=30, deadline=None)
@given(
    regions=st.lists(
        st.tuples(st.integers(1, 1 << 20), st.integers(1, 64)), min_size=1, max_size=30
    ),
    max_bands=st.integers(1, 12),
)
def test_bands_cover_everything_in_order(regions: list[tuple[int, int]], max_bands: int) -> None:
    b = DumpBuilder("amd64")
    cur = 0x10000
    built = []
    for gap_pages, pages in regions:
        cur += gap_pages * 0x1000
        b.add_memory_info(cur, pages * 0x1000)
        built.append((cur, cur + pages * 0x1000))
        cur += pages * 0x1000
    lay = map_layout(dumplib.open(b.to_bytes()), max_bands=max_bands)
    assert 1 <= len(lay.bands) <= max_bands
    for prev, nxt in zip(lay.bands, lay.bands[1:]):  # noqa: B905
        assert prev.end < nxt.start and prev.top + prev.height < nxt.top
    for start, end in built:
        band = lay.band_of(start)
        assert band is not None and end <= band.end
    # positions grow with addresses
    ys = [lay.y(s) for s, _ in built]
    placed = [y for y in ys if y is not None]
    assert len(placed) == len(ys)
    assert placed == sorted(placed)


def test_cli_map_writes_svg_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.svg"
    assert main(["map", str(CASEB / "caseb.dmp"), "--out", str(out)]) == 0
    assert f"module-{TRUTH['faulting_module']}" in _ids(out)
    capsys.readouterr()
    assert main(["map", str(CASEB / "caseb.dmp"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fault"] == RUNTIME["exception.address"]
    names = {m["label"] for m in doc["marks"] if m["kind"] == "module"}
    assert set(TRUTH["modules"]) <= names
    assert main(["map", str(CASEB / "caseb.dmp"), "--out", str(tmp_path / "m.gif")]) == 2


def _bars(fig: Any) -> list[tuple[str, list[int]]]:
    """(bucket label without its count, bar heights) per bar series of the chart."""
    from matplotlib.container import BarContainer

    out = []
    for c in fig.axes[0].containers:
        assert isinstance(c, BarContainer)
        out.append((str(c.get_label()).rsplit(" (", 1)[0],
                    [round(p.get_height()) for p in c.patches]))
    return out


def test_bucket_chart_counts_rows_per_bucket_and_bin() -> None:
    from dumplib.triage.rows import TriageRow

    day = 86400
    t0 = 1_700_000_000 - 1_700_000_000 % day
    # bucket -> day of each dump; five days span more than 90 hours: daily bins
    plan = {"A": [0, 0, 1, 5], "B": [1, 1, 1], "C": [2]}
    rows = [TriageRow(path=f"/{b}{i}", bucket=b, dump_time=t0 + d * day + 3600)
            for b, days in plan.items() for i, d in enumerate(days)]
    rows.append(TriageRow(path="/x", bucket="ERROR/unreadable"))  # no time: left out
    for source in (rows, views.to_dataframe(rows)):
        fig = views.bucket_chart(source)
        ax = fig.axes[0]
        got = dict(_bars(fig))
        want = {b: [days.count(i) for i in range(6)] for b, days in plan.items()}
        assert got == want
        assert "dumps per day" == ax.get_ylabel()
        assert "1 without a time" in ax.get_title(loc="left")


def test_bucket_chart_folds_small_buckets_into_other() -> None:
    from dumplib.triage.rows import TriageRow

    rows = [TriageRow(path=f"/{i}", bucket=f"B{i % 5}", dump_time=1_700_000_000 + i)
            for i in range(50)]
    fig = views.bucket_chart(rows, top=2)
    bars = _bars(fig)
    assert [label for label, _ in bars] == ["B0", "B1", "other"]
    assert sum(sum(heights) for _, heights in bars) == 50
