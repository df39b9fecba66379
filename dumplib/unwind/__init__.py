"""Layer 5: stack walking.

* :mod:`dumplib.unwind.frames`: the result types (:class:`Frame`, :class:`Stack`,
  :class:`Trust`, :class:`StackStatus`), imported here.
* :mod:`dumplib.unwind.walker`: :class:`~dumplib.unwind.walker.StackWalker`, which
  :meth:`dumplib.Dump.stack` and :meth:`dumplib.Dump.stacks` use (one per dump and
  ``symbols=`` value, caching module unwind tables and symbols).
* :mod:`dumplib.unwind.amd64`, :mod:`dumplib.unwind.x86`: one module per CPU,
  each exposing ``step`` (the unwind-data rung: x64 UNWIND_INFO with epilogue
  emulation and machine frames; x86 STACK WIN; breakpad STACK CFI); the
  walker is the CPU-agnostic driver.
* :mod:`dumplib.unwind.state`: what the step functions and the driver share.
* :mod:`dumplib.unwind.postfix`: breakpad ``STACK WIN`` / ``STACK CFI`` programs.
* :mod:`dumplib.unwind.disasm`: capstone listings, CALL-site checks for stack
  scanning and explanations of faulting instructions.
* :mod:`dumplib.unwind.synth`: synthetic x64 images and a forward simulator,
  for tests and benchmarks.

Only the result types are imported with this package; the walker (and
capstone) load when a stack is first walked.
"""

from __future__ import annotations

from dumplib.unwind.frames import Frame, Stack, StackStatus, Trust, lookup_address

__all__ = ["Frame", "Stack", "StackStatus", "Trust", "lookup_address"]
