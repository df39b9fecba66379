"""Layer 3: the dump model -- Dump, Thread, Module, ExceptionInfo, Memory and their lists."""
