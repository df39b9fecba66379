"""The Jupyter HTML views in a real browser: Debian's chromium, headless, at 1280 px.

Each view (dump card, threads, modules, stack, report, triage table) is put in a
page that mimics a JupyterLab output area: the output column of a 1280 px
window and JupyterLab's own table rules, which right-align cells and fix the
table layout with a stronger selector than ours (the facts are JupyterLab's
``rendermime`` CSS). A script in the page measures, after layout, every element
against its section's box (nothing may stick out, nothing may scroll inside)
and the computed alignment of every text cell, and writes the numbers into the
DOM; ``chromium --dump-dom`` returns them.

Two control sections check the oracle itself: a box wider than the window must
be reported as overflowing, and a plain table under the notebook rules must be
reported as right-aligned.

Skipped only when chromium is absent (CI installs it: ``apt-get install chromium``),
with a loud warning.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest

import dumplib
import dumplib.views
from dumplib.samples import sample_path, sample_symbols
from dumplib.views.html import dump_html, report_html, stack_html, triage_html

ROOT = Path(__file__).resolve().parent.parent
WINE = ROOT / "fixtures" / "wine"
WIDTH = 1280


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _chromium()
if CHROMIUM is None:
    warnings.warn("chromium not found: the browser checks of the HTML views are SKIPPED "
                  "(apt-get install -y chromium)", stacklevel=1)
    print("\n*** tests/test_views_browser.py: chromium not found, browser checks SKIPPED ***\n",
          file=__import__("sys").stderr)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="CHROMIUM NOT INSTALLED: browser checks of the HTML views SKIPPED "
           "(apt-get install -y chromium)")

# JupyterLab's rendered-HTML table rules (packages/rendermime/style/base.css), the
# parts that fight a view's layout: right-aligned cells, fixed layout, centred tables.
NOTEBOOK_CSS = """
body{margin:0;font-family:sans-serif}
.jp-OutputArea-output{margin-left:72px;width:calc(100% - 96px);overflow-x:auto}
.jp-RenderedHTMLCommon table{border-collapse:collapse;border-spacing:0;border:none;
 table-layout:fixed;margin-left:auto;margin-bottom:1em;margin-right:auto}
.jp-RenderedHTMLCommon td,.jp-RenderedHTMLCommon th,.jp-RenderedHTMLCommon tr{
 vertical-align:middle;padding:.5em;line-height:normal;white-space:normal;max-width:none;border:none}
:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td,
:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon th,
:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon tr{text-align:right}
"""

MEASURE_JS = """
(function(){
  const out = [];
  for (const sec of document.querySelectorAll('section')) {
    const box = sec.getBoundingClientRect();
    const over = [];
    for (const el of sec.querySelectorAll('*')) {
      if (el.tagName === 'STYLE') continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      const what = el.tagName + '.' + (el.className || '') + ' ' +
                   (el.textContent || '').slice(0, 40);
      if (r.right > box.right + 0.5 || r.left < box.left - 0.5)
        over.push('outside: ' + Math.round(r.left) + '-' + Math.round(r.right) + ' ' + what);
      else if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
        over.push('scrolls: ' + el.scrollWidth + '>' + el.clientWidth + ' ' + what);
    }
    const right = [];
    let cells = 0;
    for (const td of sec.querySelectorAll('td,th')) {
      if (/\\bnum\\b/.test(td.className) || !td.textContent.trim()) continue;
      cells++;
      const a = getComputedStyle(td).textAlign;
      if (a !== 'left' && a !== 'start') right.push(a + ' ' + td.textContent.slice(0, 30));
    }
    out.push({id: sec.id, width: Math.round(box.width), over: over, cells: cells,
              misaligned: right});
  }
  document.getElementById('measure').textContent = JSON.stringify(out);
})();
"""


def _page(views: dict[str, str]) -> str:
    sections = "".join(
        f'<section id="{name}"><div class="jp-OutputArea-output jp-RenderedHTMLCommon">'
        f"{body}</div></section>" for name, body in views.items())
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{NOTEBOOK_CSS}</style>"
            f"</head><body>{sections}<pre id='measure'></pre>"
            f"<script>{MEASURE_JS}</script></body></html>")


def _measure(views: dict[str, str], tmp: Path) -> dict[str, Any]:
    assert CHROMIUM is not None
    page = tmp / "views.html"
    page.write_text(_page(views), encoding="utf-8")
    profile = tmp / "profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", f"--window-size={WIDTH},16000",
           "--dump-dom", page.as_uri()]
    # the window is tall enough that no vertical scrollbar takes width from the page
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="measure">(.*?)</pre>', done.stdout, re.S)
    assert m and m.group(1), f"no measurements from chromium: {done.stderr[-2000:]}"
    doc = json.loads(m.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    return {d["id"]: d for d in doc}


@pytest.fixture(scope="module")
def views() -> dict[str, str]:
    symbols = sample_symbols()
    with dumplib.open(sample_path()) as dump:
        exc = dump.exception
        assert exc is not None
        stack = dump.stack(exc.thread_id, symbols=symbols)
        report = dumplib.analyze(dump, symbols=symbols)
        out = {
            "card": dump_html(dump),
            "threads": dumplib.views.threads(dump)._repr_html_(),
            "modules": dumplib.views.modules(dump, symbols=symbols)._repr_html_(),
            "stack": stack_html(stack),
            "report": report_html(report),
        }
    dumps = sorted(WINE.glob("*/*.dmp"))
    case_dirs = [str(d) for d in sorted(WINE.iterdir()) if d.is_dir()]
    rows = list(dumplib.triage(dumps, jobs=0, symbols=case_dirs))
    # A stress row: a bucket as long as a deep C++ stack makes (real frames, repeated).
    longest = max(rows, key=lambda r: len(r.bucket))
    rows.append(dataclasses.replace(longest, path=longest.path + ".copy",
                                    bucket="|".join([longest.bucket] * 12)))
    out["triage"] = triage_html(rows)
    return out


def test_views_fit_1280px_and_left_align_text(views: dict[str, str], tmp_path: Path) -> None:
    controls = {
        "control-overflow": '<div style="width:2000px">wider than the window</div>',
        "control-align": "<table><tr><td>text</td><td>more text</td></tr></table>",
    }
    got = _measure({**views, **controls}, tmp_path)
    # the oracle works: it sees an overflow and a notebook's right alignment
    assert got["control-overflow"]["over"], got["control-overflow"]
    assert len(got["control-align"]["misaligned"]) == 2, got["control-align"]
    for name in views:
        m = got[name]
        assert m["width"] == WIDTH
        assert m["over"] == [], (name, m["over"][:5])
        assert m["cells"] > 0 and m["misaligned"] == [], (name, m["misaligned"][:5])


def test_long_bucket_keeps_the_exception_column_on_screen(views: dict[str, str]) -> None:
    # what the browser test measures must contain the stress row and the exception text
    body = views["triage"]
    assert body.count("EXCEPTION_ACCESS_VIOLATION") >= 2
    assert max(len(b) for b in re.findall(r'<td class="mono wrap">([^<]*)</td>', body)) > 600
