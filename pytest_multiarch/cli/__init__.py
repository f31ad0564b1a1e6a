"""The ``python -m pytest_multiarch`` command and its subcommands: doctor, setup, binfmt, merge,
exec and shims; one module per command."""
