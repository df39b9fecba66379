""":class:`dumplib.dump.KernelDump`, in its own module so that opening a process dump
does not import the kernel model (issue #16); ``dumplib.dump`` re-exports it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dumplib.dump import Dump, SymbolsArg
from dumplib.model.kernel import KernelDumpFile

if TYPE_CHECKING:
    from dumplib.unwind.disasm import Instruction

__all__ = ["KernelDump"]


class KernelDump(KernelDumpFile, Dump):
    """An opened kernel crash dump: :class:`KernelDumpFile` plus stacks and analysis."""

    __module__ = "dumplib.dump"  # its public home

    def disassemble(
        self, address: int | None = None, count: int = 10, *, symbols: SymbolsArg = None
    ) -> list[Instruction]:
        """Disassemble at ``address``; by default where the bug check says the fault was
        (parameter 4 of 0xA/0xD1, parameter 2 of the exception bug checks), else at the
        bugchecking processor's ip."""
        if address is None:
            address = self.fault_address
        return super().disassemble(address, count, symbols=symbols)
