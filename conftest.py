"""Test-suite wide configuration: pytester drives the plugin end to end in subprocess-free runs."""

pytest_plugins = ["pytester"]
