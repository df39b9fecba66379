"""The fixed-record layouts against construct (issue #16 moved them off construct).

``dumplib.format.layouts`` declares SystemInfo, MiscInfo 1-5, the exception
stream, SystemMemoryInfo and the VM counters with its own struct-backed
``Layout``. The oracle is the construct declaration of the same structures
(as dumplib used them before, from ``minidumpapiset.h``), kept here: both must
give the same sizes and the same values on every real dump's streams and on
random bytes.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import construct as c
import pytest

from dumplib.format import layouts as L
from dumplib.model.dump import DumpFile

ROOT = Path(__file__).resolve().parents[1]

_SYSTEMTIME = c.Struct(
    "year" / c.Int16ul,
    "month" / c.Int16ul,
    "day_of_week" / c.Int16ul,
    "day" / c.Int16ul,
    "hour" / c.Int16ul,
    "minute" / c.Int16ul,
    "second" / c.Int16ul,
    "milliseconds" / c.Int16ul,
)

# TIME_ZONE_INFORMATION (172 bytes).
TIME_ZONE_INFORMATION = c.Struct(
    "bias" / c.Int32sl,
    "standard_name" / c.Bytes(64),
    "standard_date" / _SYSTEMTIME,
    "standard_bias" / c.Int32sl,
    "daylight_name" / c.Bytes(64),
    "daylight_date" / _SYSTEMTIME,
    "daylight_bias" / c.Int32sl,
)

# MINIDUMP_SYSTEM_INFO (56 bytes); ``cpu`` is the 24-byte CPU_INFORMATION union.
SYSTEM_INFO = c.Struct(
    "processor_architecture" / c.Int16ul,
    "processor_level" / c.Int16ul,
    "processor_revision" / c.Int16ul,
    "number_of_processors" / c.Int8ul,
    "product_type" / c.Int8ul,
    "major_version" / c.Int32ul,
    "minor_version" / c.Int32ul,
    "build_number" / c.Int32ul,
    "platform_id" / c.Int32ul,
    "csd_version_rva" / c.Int32ul,
    "suite_mask" / c.Int16ul,
    "reserved2" / c.Int16ul,
    "cpu" / c.Bytes(24),
)

# MINIDUMP_MISC_INFO through _5; later parts are read only when SizeOfInfo covers them.
MISC_INFO = {
    1: c.Struct(
        "size_of_info" / c.Int32ul,
        "flags1" / c.Int32ul,
        "process_id" / c.Int32ul,
        "process_create_time" / c.Int32ul,
        "process_user_time" / c.Int32ul,
        "process_kernel_time" / c.Int32ul,
    ),
    2: c.Struct(
        "processor_max_mhz" / c.Int32ul,
        "processor_current_mhz" / c.Int32ul,
        "processor_mhz_limit" / c.Int32ul,
        "processor_max_idle_state" / c.Int32ul,
        "processor_current_idle_state" / c.Int32ul,
    ),
    3: c.Struct(
        "process_integrity_level" / c.Int32ul,
        "process_execute_flags" / c.Int32ul,
        "protected_process" / c.Int32ul,
        "time_zone_id" / c.Int32ul,
        "time_zone" / TIME_ZONE_INFORMATION,
    ),
    4: c.Struct(
        "build_string" / c.Bytes(520),
        "dbg_bld_str" / c.Bytes(80),
    ),
    5: c.Struct(
        "xstate_size_of_info" / c.Int32ul,
        "xstate_context_size" / c.Int32ul,
        "xstate_enabled_features" / c.Int64ul,
        "xstate_features" / c.Array(64, c.Struct("offset" / c.Int32ul, "size" / c.Int32ul)),
        "process_cookie" / c.Int32ul,
    ),
}
# Size of MINIDUMP_MISC_INFO at each level.
MISC_INFO_SIZES = {1: 24, 2: 44, 3: 232, 4: 832, 5: 1364}

# MINIDUMP_EXCEPTION_STREAM (168 bytes).
EXCEPTION_STREAM = c.Struct(
    "thread_id" / c.Int32ul,
    "alignment" / c.Int32ul,
    "exception_code" / c.Int32ul,
    "exception_flags" / c.Int32ul,
    "exception_record" / c.Int64ul,
    "exception_address" / c.Int64ul,
    "number_parameters" / c.Int32ul,
    "unused_alignment" / c.Int32ul,
    "exception_information" / c.Array(15, c.Int64ul),
    "context_data_size" / c.Int32ul,
    "context_rva" / c.Int32ul,
)

# MINIDUMP_SYSTEM_MEMORY_INFO_1 up to (not including) its PerfInfo part.
SYSTEM_MEMORY_INFO = c.Struct(
    "revision" / c.Int16ul,
    "flags" / c.Int16ul,
    "timer_resolution" / c.Int32ul,
    "page_size" / c.Int32ul,
    "number_of_physical_pages" / c.Int32ul,
    "lowest_physical_page_number" / c.Int32ul,
    "highest_physical_page_number" / c.Int32ul,
    "allocation_granularity" / c.Int32ul,
    "minimum_user_mode_address" / c.Int64ul,
    "maximum_user_mode_address" / c.Int64ul,
    "active_processors_affinity_mask" / c.Int64ul,
    "number_of_processors" / c.Int32ul,
    "file_cache_current_size" / c.Int64ul,
    "file_cache_peak_size" / c.Int64ul,
    "file_cache_page_fault_count" / c.Int32ul,
    "file_cache_minimum_working_set" / c.Int64ul,
    "file_cache_maximum_working_set" / c.Int64ul,
    "file_cache_current_size_including_transition_in_pages" / c.Int64ul,
    "file_cache_peak_size_including_transition_in_pages" / c.Int64ul,
    "file_cache_transition_re_purpose_count" / c.Int32ul,
    "file_cache_flags" / c.Int32ul,
    "available_pages" / c.Int64ul,
    "committed_pages" / c.Int64ul,
    "commit_limit" / c.Int64ul,
    "peak_commitment" / c.Int64ul,
)

_VM_COMMON = (
    "page_fault_count" / c.Int32ul,
    "peak_working_set_size" / c.Int64ul,
    "working_set_size" / c.Int64ul,
    "quota_peak_paged_pool_usage" / c.Int64ul,
    "quota_paged_pool_usage" / c.Int64ul,
    "quota_peak_non_paged_pool_usage" / c.Int64ul,
    "quota_non_paged_pool_usage" / c.Int64ul,
    "pagefile_usage" / c.Int64ul,
    "peak_pagefile_usage" / c.Int64ul,
    "private_usage" / c.Int64ul,
)

# MINIDUMP_PROCESS_VM_COUNTERS_1 (Revision 1, 80 bytes) and _2 (Revision 2, 152 bytes);
# _2 inserts PeakVirtualSize and VirtualSize before PrivateUsage.
PROCESS_VM_COUNTERS = {
    1: c.Struct("revision" / c.Int16ul, "flags" / c.Int16ul, *_VM_COMMON),
    2: c.Struct(
        "revision" / c.Int16ul,
        "flags" / c.Int16ul,
        *_VM_COMMON[:9],
        "peak_virtual_size" / c.Int64ul,
        "virtual_size" / c.Int64ul,
        _VM_COMMON[9],
        "private_working_set_size" / c.Int64ul,
        "shared_commit_usage" / c.Int64ul,
        "job_shared_commit_usage" / c.Int64ul,
        "job_private_commit_usage" / c.Int64ul,
        "job_peak_private_commit_usage" / c.Int64ul,
        "job_private_commit_limit" / c.Int64ul,
        "job_total_commit_limit" / c.Int64ul,
    ),
}
PROCESS_VM_COUNTERS_SIZES = {1: 80, 2: 152}



PAIRS: dict[str, tuple[Any, L.Layout]] = {
    "SYSTEM_INFO": (SYSTEM_INFO, L.SYSTEM_INFO),
    "EXCEPTION_STREAM": (EXCEPTION_STREAM, L.EXCEPTION_STREAM),
    "SYSTEM_MEMORY_INFO": (SYSTEM_MEMORY_INFO, L.SYSTEM_MEMORY_INFO),
    **{f"MISC_INFO[{k}]": (MISC_INFO[k], L.MISC_INFO[k]) for k in MISC_INFO},
    **{f"PROCESS_VM_COUNTERS[{k}]": (PROCESS_VM_COUNTERS[k], L.PROCESS_VM_COUNTERS[k])
       for k in PROCESS_VM_COUNTERS},
}
#: stream type -> the layouts that decode it, at their offsets in the stream
BY_STREAM = {
    7: [("SYSTEM_INFO", 0)],
    6: [("EXCEPTION_STREAM", 0)],
    21: [("SYSTEM_MEMORY_INFO", 0)],
    15: [(f"MISC_INFO[{k}]", sum(L.MISC_INFO[j].sizeof() for j in range(1, k)))
         for k in range(1, 6)],
    22: [("PROCESS_VM_COUNTERS[1]", 0), ("PROCESS_VM_COUNTERS[2]", 0)],
}


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items() if not k.startswith("_")}
    if isinstance(x, (list, tuple)):
        return tuple(_plain(v) for v in x)
    return x


@pytest.mark.parametrize("name", list(PAIRS))
def test_sizes_and_random_bytes_agree(name: str) -> None:
    ref, ours = PAIRS[name]
    assert ours.sizeof() == ref.sizeof()
    rng = random.Random(name)
    for _ in range(50):
        data = rng.randbytes(ours.sizeof())
        assert _plain(ours.parse(data)) == _plain(ref.parse(data))


def test_real_dump_streams_agree() -> None:
    dumps = [*sorted(ROOT.glob("fixtures/**/*.dmp")), ROOT / "dumplib/samples/test.dmp"]
    compared = 0
    for path in dumps:
        data = path.read_bytes()
        try:
            dump = DumpFile(path)
        except Exception:  # a deliberately broken fixture: nothing to compare
            continue
        with dump:
            for entry in dump.streams:
                raw = data[entry.rva : entry.rva + entry.data_size]
                for name, pos in BY_STREAM.get(entry.stream_type, []):
                    ref, ours = PAIRS[name]
                    chunk = raw[pos : pos + ours.sizeof()]
                    if len(chunk) == ours.sizeof():
                        assert _plain(ours.parse(chunk)) == _plain(ref.parse(chunk)), (path, name)
                        compared += 1
    assert compared >= 40  # system info, exception and misc info of the wine and external dumps
