"""pytest-multiarch: run Go and Rust tests on many CPU architectures from one pytest run."""

from pytest_multiarch.arch import ARCHES, Arch
from pytest_multiarch.executors import RunResult

__all__ = ["ARCHES", "Arch", "RunResult"]
__version__ = "0.1.0"
