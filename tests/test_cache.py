"""The content-addressed store: atomic entries, one producer per key across processes, LRU pruning."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_multiarch.cache.store import IN_USE_SECONDS, STALE_TMP_SECONDS, BuildCache, key
from pytest_multiarch.settings import parse_size


def test_key_is_stable_and_distinguishes_parts() -> None:
    assert key("a", 1, Path("/x")) == key("a", 1, "/x")
    assert key("a", 1) != key("a", 2)
    assert key({"b": 1, "a": 2}) == key({"a": 2, "b": 1})


def test_store_publishes_a_finished_entry_once(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path)
    k = key("thing")
    assert cache.entry(k) is None
    calls = []

    def fill(d: Path) -> None:
        calls.append(d)
        (d / "out").write_text("built")

    path = cache.store(k, fill)
    assert (path / "out").read_text() == "built"
    assert cache.store(k, fill) == path
    assert len(calls) == 1
    assert cache.entry(k) == path


def test_a_failed_fill_leaves_no_entry(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path)

    def fill(d: Path) -> None:
        (d / "half").write_text("half")
        raise RuntimeError("compiler died")

    with pytest.raises(RuntimeError):
        cache.store(key("x"), fill)
    assert cache.entry(key("x")) is None
    assert list((tmp_path / "tmp").iterdir()) == []


def test_records_round_trip_and_a_corrupt_one_reads_as_missing(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path)
    cache.write_record("k1", {"tests": ["A", "B"]})
    assert cache.read_record("k1") == {"tests": ["A", "B"]}
    assert cache.read_record("k2") is None
    path = next((tmp_path / "records").rglob("k1.json"))
    path.write_text('{"tests": ["A"')  # truncated by hand
    assert cache.read_record("k1") is None


_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pytest_multiarch.cache.store import BuildCache

    root, k, log, pause = sys.argv[1], sys.argv[2], Path(sys.argv[3]), float(sys.argv[4])

    def fill(d):
        with log.open("a") as f:
            f.write("fill\\n")
        (d / "bin").write_bytes(b"x" * 100_000)
        time.sleep(pause)

    cache = BuildCache(Path(root))
    with cache.lock(k):
        print(cache.store(k, fill))
    """
)


def _writer(tmp_path: Path, k: str, pause: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path / "cache"), k, str(tmp_path / "log"), str(pause)],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )


def test_concurrent_processes_produce_an_entry_once(tmp_path: Path) -> None:
    procs = [_writer(tmp_path, key("same"), 0.5) for _ in range(3)]
    outs = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(outs) == 1  # every process got the same entry
    assert (tmp_path / "log").read_text().count("fill") == 1


def test_an_entry_killed_mid_write_is_never_seen(tmp_path: Path) -> None:
    writer = _writer(tmp_path, key("killed"), 30)
    deadline = time.monotonic() + 30
    while not (tmp_path / "log").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(writer.pid, signal.SIGKILL)
    writer.wait()
    cache = BuildCache(tmp_path / "cache")
    assert cache.entry(key("killed")) is None
    leftovers = list((tmp_path / "cache" / "tmp").iterdir())
    assert len(leftovers) == 1  # the half-written directory stays aside...
    cache.prune(10**12, now=time.time() + STALE_TMP_SECONDS + 1)
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []  # ...until it is stale
    # and the lock the killed process held is free again
    again = _writer(tmp_path, key("killed"), 0)
    assert again.communicate(timeout=60)[0].strip()
    assert cache.entry(key("killed")) is not None


def test_prune_removes_least_recently_used_beyond_the_size(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path)
    now = time.time()
    paths = []
    for i in range(4):
        p = cache.store(key(i), lambda d: (d / "bin").write_bytes(b"x" * 1000))
        os.utime(p, (now - 10_000 + i, now - 10_000 + i))  # used long ago, oldest first
        paths.append(p)
    stats = cache.prune(2500, now=now)
    assert stats.removed == 2
    assert [p.exists() for p in paths] == [False, False, True, True]
    assert stats.bytes <= 2500


def test_prune_keeps_entries_in_use(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path)
    p = cache.store(key("fresh"), lambda d: (d / "bin").write_bytes(b"x" * 1000))
    assert cache.prune(0, now=time.time() + IN_USE_SECONDS / 2).removed == 0
    assert p.exists()
    assert cache.prune(0, now=time.time() + IN_USE_SECONDS + 1).removed == 1


def test_clear_empties_the_store(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path)
    cache.store(key("a"), lambda d: (d / "bin").write_bytes(b"x"))
    cache.write_record("r", [1])
    cache.clear()
    assert cache.entry(key("a")) is None
    assert cache.read_record("r") is None
    assert cache.stats().entries == 0


@pytest.mark.parametrize(
    ("text", "size"),
    [("1048576", 1048576), ("500M", 500 * 1024**2), ("2G", 2 * 1024**3), ("1.5GiB", int(1.5 * 1024**3))],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "big", "-1G", "2X"])
def test_parse_size_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)
