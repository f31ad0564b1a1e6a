"""The Go test-result cache's helpers that need no Go: the test binary's digest across runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_multiarch.cache import fingerprint
from pytest_multiarch.cache.store import BuildCache
from pytest_multiarch.run import testcache


def test_a_binary_is_hashed_once_across_runs_and_again_once_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BuildCache(tmp_path / "cache")
    binary = tmp_path / "p.test"
    binary.write_bytes(b"\x7fELF first")
    first = testcache.binary_digest(store, binary)
    assert first == fingerprint.file_digest(binary)

    def hashed(path: object) -> str:  # a new run: nothing memoised in this process
        raise AssertionError(f"hashed {path} again")

    monkeypatch.setattr(fingerprint, "file_digest", hashed)
    assert testcache.binary_digest(store, binary) == first
    monkeypatch.undo()

    binary.write_bytes(b"\x7fELF second, longer")
    second = testcache.binary_digest(store, binary)
    assert second == fingerprint.file_digest(binary) != first
    assert testcache.binary_digest(store, tmp_path / "missing") == "-"
