"""The build cache's remembered file digest (the result caches' key of a test binary)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_multiarch.cache import fingerprint
from pytest_multiarch.cache.store import BuildCache


def test_a_binary_is_hashed_once_across_runs_and_again_once_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BuildCache(tmp_path / "cache")
    binary = tmp_path / "p.test"
    binary.write_bytes(b"\x7fELF first")
    first = store.file_digest(binary)
    assert first == fingerprint.file_digest(binary)

    def hashed(path: object) -> str:  # a new run: nothing memoised in this process
        raise AssertionError(f"hashed {path} again")

    monkeypatch.setattr(fingerprint, "file_digest", hashed)
    assert store.file_digest(binary) == first
    monkeypatch.undo()

    binary.write_bytes(b"\x7fELF second, longer")
    second = store.file_digest(binary)
    assert second == fingerprint.file_digest(binary) != first
    assert store.file_digest(tmp_path / "missing") == "-"
