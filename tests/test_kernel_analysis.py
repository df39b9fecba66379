"""Kernel-dump analysis: bug check report, probably-caused-by, buckets, network findings.

Every expected value follows from how the builder made the dump: which driver's frame
sits where on the crash stack, which vendor its version resource names, which bug check
the header carries. Negative controls change one fact at a time (the code, the caller,
the vendor, the kind of dump) and keep everything else, names included.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import dumplib
from dumplib.analysis import analyze
from tests.kernel_helpers import analyze_machine, build

ROOT = Path(__file__).resolve().parent.parent


def test_bugcheck_report_and_bucket_windbg_style() -> None:
    r = analyze_machine()
    assert r.bucket == "AV_vsepflt!VsepClassifyPacket"
    bc = r.bugcheck
    assert bc is not None and bc["code"] == 0xD1 and bc["name"] == "DRIVER_IRQL_NOT_LESS_OR_EQUAL"
    params = bc["parameters"]
    assert isinstance(params, list) and len(params) == 4
    culprit = bc["probably_caused_by"]
    assert isinstance(culprit, dict)
    assert culprit["name"] == "vsepflt.sys" and culprit["vendor"] == "Symantec Corporation"
    assert culprit["frame"] == 2 and culprit["version"] == "14.3.3580.1100"
    assert [d["name"] for d in bc["third_party_drivers"]] == ["vsepflt.sys"]  # type: ignore[index,union-attr]
    assert "probably caused by vsepflt.sys" in r.summary
    assert r.crash_stack is not None and len(r.crash_stack.frames) == 6
    json.dumps(r.to_json())


@pytest.mark.parametrize(("code", "bucket"), [
    (0xD1, "AV_acmenet!VsepClassifyPacket"),
    (0x0A, "AV_acmenet!VsepClassifyPacket"),
    (0x133, "0x133_DPC_acmenet!VsepClassifyPacket"),
    (0xC4, "0xC4_acmenet!VsepClassifyPacket"),
])
def test_bucket_follows_code_and_culprit_not_names(code: int, bucket: str) -> None:
    r = analyze_machine(bugcheck=code, culprit="acmenet.sys", company="Acme Networks")
    assert r.bucket == bucket


def test_microsoft_culprit_falls_back_to_parameter_module() -> None:
    # The same stack, but the driver is Microsoft's: no third-party frame, so the module
    # parameter 4 (the faulting ip) points into is blamed, by the second rule.
    r = analyze_machine(company="Microsoft Corporation")
    assert r.bugcheck is not None
    culprit = r.bugcheck["probably_caused_by"]
    assert isinstance(culprit, dict) and culprit["name"] == "vsepflt.sys"
    assert culprit["rule"] == "bug check parameter 4 points into it"
    assert r.finding("network-filter-driver-bugcheck") is None


@pytest.mark.parametrize("kw", [
    {},
    {"bugcheck": 0x133, "culprit": "acmenet.sys", "company": "Acme Networks"},
    {"bugcheck": 0x0A, "culprit": "wfpguard.sys", "company": "Guard Software",
     "caller": "netio.sys"},
])
def test_network_stack_bugcheck_positives(kw: dict[str, object]) -> None:
    r = analyze_machine(**kw)
    f = r.finding("network-filter-driver-bugcheck")
    assert f is not None, [x.id for x in r.findings]
    ev = f.evidence
    assert isinstance(ev["culprit"], dict)
    assert ev["culprit"]["name"] == kw.get("culprit", "vsepflt.sys")
    assert ev["culprit"]["vendor"] == kw.get("company", "Symantec Corporation")
    near = ev["network_stack_frames"]
    assert isinstance(near, list) and [n["frame"] for n in near] == [3, 4]  # type: ignore[index]
    assert f.confidence == 0.9
    assert ev["culprit_imports"] == {
        "fwpkclnt.sys": ["FwpsCalloutRegister1", "FwpsFlowAssociateContext0"],
        "ndis.sys": ["NdisFRegisterFilterDriver"],
    }


def test_network_stack_bugcheck_without_network_imports_is_less_sure() -> None:
    # Same stack, but the driver imports only from the kernel: it was in the network
    # path when the system stopped, yet nothing says it is a network filter.
    r = analyze_machine(imports={"ntoskrnl.exe": ["ExAllocatePoolWithTag"]})
    f = r.finding("network-filter-driver-bugcheck")
    assert f is not None and f.confidence == 0.75 and "culprit_imports" not in f.evidence


@pytest.mark.parametrize("kw", [
    {"caller": "ntfs.sys"},                            # a filter, but in the storage stack
    {"bugcheck": 0x50},                                # same stack, another bug check
    {"company": "Microsoft Corporation"},              # the driver in the middle is Microsoft's
    {"culprit": "acmenet.sys", "company": "Acme Networks", "caller": "fltmgr.sys"},
])
def test_network_stack_bugcheck_negatives(kw: dict[str, object]) -> None:
    assert analyze_machine(**kw).finding("network-filter-driver-bugcheck") is None


@pytest.mark.parametrize(
    "kind", ["full", "bitmap", "bitmap-kernel", "rdmp-kernel", "rdmp-active", "triage"]
)
def test_network_filter_driver_fires_on_kernel_dumps_naming_vendor(kind: str) -> None:
    r = analyze_machine(kind=kind)
    f = r.finding("network-filter-driver")
    assert f is not None
    mods = f.evidence["modules"]
    assert isinstance(mods, list) and len(mods) == 1
    path = "vsepflt.sys" if kind == "triage" else "\\SystemRoot\\system32\\drivers\\vsepflt.sys"
    assert mods[0] == {  # type: ignore[comparison-overlap]
        "name": "vsepflt.sys", "version": "14.3.3580.1100", "path": path,
        "base": mods[0]["base"], "vendor": "Symantec Corporation",  # type: ignore[index]
    }


@pytest.mark.parametrize("kw", [
    {"culprit": "acmenet.sys", "company": "Acme Networks"},   # another filter, not a known one
    {"culprit": "vsepflt2.sys"},                              # a name that merely resembles it
    {"culprit": "xvsepflt.sys", "extra": ("tcpip6.sys",)},
])
def test_network_filter_driver_negatives_on_kernel_dumps(kw: dict[str, object]) -> None:
    assert analyze_machine(**kw).finding("network-filter-driver") is None


def test_cli_on_kernel_dump(tmp_path: Path) -> None:
    built = build(tmp_path, "bitmap", huge=False)

    def run(*args: str) -> dict[str, object]:
        out = subprocess.run(
            [sys.executable, "-m", "dumplib", *args, built.path, "--json"],
            capture_output=True, text=True, cwd=ROOT, timeout=120,
        )
        assert out.returncode == 0, out.stderr
        doc: dict[str, object] = json.loads(out.stdout)
        return doc

    info = run("info")
    assert info["kind"] == "kernel-bitmap" and info["arch"] == "amd64"
    assert info["module_count"] == 3
    mods = run("modules")
    assert isinstance(mods, list) or isinstance(mods, dict)
    stack = run("stack")
    frames = stack["threads"][0]["frames"]  # type: ignore[index]
    assert [f["function"] for f in frames] == [fn for _, _, _, fn in built.frames]
    report = run("analyze")
    assert report["bucket"] == "AV_vsepflt!VsepClassifyPacket"
    assert report["bugcheck"]["name"] == "DRIVER_IRQL_NOT_LESS_OR_EQUAL"  # type: ignore[index]
    assert run("map")["bands"]
    listing = run("disasm")  # by default at the faulting ip bug check 0xD1's parameter 4 names
    faulting = [i for i in listing["instructions"] if i["fault"]]  # type: ignore[attr-defined]
    assert [i["address"] for i in faulting] == [built.frames[2][0] - 5]
    out = tmp_path / "rows.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "dumplib", "triage", built.path, "--jobs", "1", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    row = json.loads(out.read_text().splitlines()[0])
    assert row["bucket"] == "AV_vsepflt!VsepClassifyPacket" and row["error"] is None


def test_analyze_api_on_user_dump_has_no_bugcheck() -> None:
    with dumplib.open(ROOT / "dumplib" / "samples" / "test.dmp") as d:
        assert analyze(d).bugcheck is None


def test_import_directory_matches_pefile() -> None:
    import pefile

    from dumplib.builder.kernel_image import Function, build_driver_image
    from dumplib.pe.image import PeImage
    from dumplib.pe.imports import imports

    wanted = {"fwpkclnt.sys": ["FwpsCalloutRegister1", "FwpsInjectionHandleCreate0"],
              "ndis.sys": ["NdisFRegisterFilterDriver"], "ntoskrnl.exe": ["KeBugCheckEx"]}
    img = build_driver_image("acmeflt.sys", 0xFFFF_F800_5000_0000, [Function("Entry")],
                             imports=wanted)
    data = bytes(img.data)
    pe = pefile.PE(data=data)
    theirs = {e.dll.decode().lower(): [i.name.decode() for i in e.imports]
              for e in pe.DIRECTORY_ENTRY_IMPORT}
    ours = imports(PeImage.from_file(data))
    assert ours == theirs == wanted


@pytest.mark.parametrize(("name", "vendor"), [
    ("vnetflt.sys", "VMware, Inc."), ("vnetwfp.sys", "VMware, Inc."),
    ("FireTDI64.sys", "McAfee, Inc."),
])
def test_network_filter_driver_positives_by_other_names(name: str, vendor: str) -> None:
    f = analyze_machine(culprit=name, company=vendor).finding("network-filter-driver")
    assert f is not None
    mods = f.evidence["modules"]
    assert isinstance(mods, list)
    assert [(m["name"], m["vendor"]) for m in mods] == [(name, vendor)]  # type: ignore[index]
