"""Modules not published by Microsoft, named with vendor, description and version.

The vendor comes from the image's version resource (``CompanyName``), read
from the dump's memory or from an image found on the symbol path. A module
whose image cannot be read is listed only when it lives outside the Windows
directory and is not a known system or .NET runtime module.
"""

from __future__ import annotations

from dumplib.analysis.facts import AnalysisContext
from dumplib.analysis.model import ThirdPartyModule
from dumplib.analysis.wer import version_text

__all__ = ["third_party_modules"]


def third_party_modules(ctx: AnalysisContext) -> list[ThirdPartyModule]:
    """The process's third-party modules in module-list order."""
    on_threads: dict[int, set[int]] = {}
    for t in ctx.threads:
        if t.stack is None:
            continue
        for f in t.stack.frames:
            if f.module is not None:
                on_threads.setdefault(f.module.base, set()).add(t.id)
    out: list[ThirdPartyModule] = []
    for m in ctx.dump.modules:
        info = ctx.vendor(m)
        if info is not None and info.company:
            if ctx.is_microsoft(m):
                continue
            reason = "CompanyName is not Microsoft"
        elif ctx.is_system_module(m) or ctx.is_runtime_module(m):
            continue
        else:
            reason = "no version resource available; outside the Windows directory"
        version = version_text(m.version) if m.version else (info.file_version if info else None)
        out.append(
            ThirdPartyModule(
                name=m.name,
                path=m.path,
                base=m.base,
                size=m.size,
                version=version,
                vendor=info.company if info else None,
                description=info.description if info else None,
                product=info.product if info else None,
                on_threads=tuple(sorted(on_threads.get(m.base, ()))),
                reason=reason,
            )
        )
    return out
