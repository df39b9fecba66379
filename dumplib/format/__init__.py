"""Layer 2: on-disk minidump structures, typed records, stream decoders and CPU contexts."""
