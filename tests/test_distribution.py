"""Which batch an item belongs to, read from its node id (all xdist's controller sees)."""

from __future__ import annotations

import pytest

from pytest_multiarch.distribution import batch_scope


@pytest.mark.parametrize(
    ("nodeid", "scope"),
    [
        ("m/go.mod::p00::TestX[arm64]", "m/go.mod::p00[arm64]"),
        ("go.mod::example.com/m::TestX[s390x]", "go.mod::example.com/m[s390x]"),
        ("go.mod::d/b::TestY[arm]", "go.mod::d/b[arm]"),
        ("c/Cargo.toml::lib::tests::adds[arm64]", "c/Cargo.toml::lib[arm64]"),
        ("Cargo.toml::lib::adds[arm64]", "Cargo.toml::lib[arm64]"),
        ("Cargo.toml::tests/roundtrip::roundtrip[arm]", "Cargo.toml::tests/roundtrip[arm]"),
        # In no batch, or a batch of one: the item is its own scope.
        ("Cargo.toml::tests/program[arm]", "Cargo.toml::tests/program[arm]"),
        ("go.mod::[arm64]", "go.mod::[arm64]"),
        ("test_cli.py::test_decode[arm64]", "test_cli.py::test_decode[arm64]"),
        ("test_cli.py::test_plain", "test_cli.py::test_plain"),
    ],
)
def test_batch_scope(nodeid: str, scope: str) -> None:
    assert batch_scope(nodeid) == scope


def test_the_same_test_on_two_arches_is_two_batches() -> None:
    assert batch_scope("go.mod::p::TestA[arm64]") == batch_scope("go.mod::p::TestB[arm64]")
    assert batch_scope("go.mod::p::TestA[arm64]") != batch_scope("go.mod::p::TestA[s390x]")
