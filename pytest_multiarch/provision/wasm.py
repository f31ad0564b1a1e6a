"""``setup``'s WebAssembly part: the wasmtime Python package in the Python that runs pytest.

(The Rust std for wasm32-wasip1 is a rustup target: the Rust phases add it like any other.)
"""

from __future__ import annotations

import sys

from pytest_multiarch.executors import wasm as wasm_executor
from pytest_multiarch.provision.plan import Command, Finding, Plan, Request, Step

REQUIREMENT = wasm_executor.REQUIREMENT


def plan_wasmtime(req: Request, plan: Plan) -> None:
    """Install wasmtime-py with this Python's pip when a wasm architecture is selected and this
    Python cannot import it."""
    wasm = [a.name for a in req.arches if a.binary_format == "wasm"]
    if "wasmtime" not in req.components or not wasm:
        return
    wasm_executor.wasmtime_version.cache_clear()  # installed since the last look: seen now
    version = wasm_executor.wasmtime_version()
    if version is not None or "wasmtime" in req.assumed:
        if version is not None:
            plan.present.append(Finding("wasmtime", f"wasmtime-py {version} ({sys.executable})"))
        return
    argv = (sys.executable, "-m", "pip", "install", "--disable-pip-version-check", REQUIREMENT)
    step = Step(f"wasmtime-py (the Python package) for {', '.join(wasm)}", (Command(argv, root=False),),
                arches=("wasmtime",))  # fmt: skip
    plan.steps.append(step)
