"""pytest-multiarch: run Go and Rust tests on many CPU architectures from one pytest run."""

from .arch import ARCHES, Arch
from .executors import RunResult

__all__ = ["ARCHES", "Arch", "RunResult"]
__version__ = "0.1.0"
