"""One module per upstream plugin, each exporting ``NAME`` and a ``new(args, handle)`` factory."""
