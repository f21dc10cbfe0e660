"""The ``ringflow`` command line: one module per command group."""
