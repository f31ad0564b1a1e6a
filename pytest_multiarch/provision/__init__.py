"""Set-up: what ``python -m pytest_multiarch setup`` installs (QEMU, cross compilers, Rust
targets, Debian's Rust), as plans of exact commands that a dry run prints and a real run runs."""
