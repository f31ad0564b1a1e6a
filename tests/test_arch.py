"""The architecture registry and the parsing of user-given architecture names."""

from __future__ import annotations

import platform

import pytest

from pytest_multiarch import arch as archmod
from pytest_multiarch.arch import ARCHES, ArchError, get, host, parse_list

A = {a.name: a for a in ARCHES}
# One per CPU; the musl columns are in test_musl.py, wasm (no Linux, no ELF) in test_wasm.py.
GNU = [a for a in ARCHES if a.libc == "gnu" and a.linux_elf]
ALL = [*GNU, A["wasm"]]  # what --arch=all names: every CPU's glibc column, then wasm
CANONICAL = [
    "amd64",
    "386",
    "arm64",
    "arm",
    "riscv64",
    "ppc64le",
    "ppc64",
    "s390x",
    "mips64le",
    "mips64",
    "mipsle",
    "mips",
    "loong64",
]
ALIASES = {
    "x86_64": "amd64",
    "i386": "386",
    "i686": "386",
    "x86": "386",
    "aarch64": "arm64",
    "armv7": "arm",
    "armhf": "arm",
    "ppc64el": "ppc64le",
    "mips64el": "mips64le",
    "mipsel": "mipsle",
    "loongarch64": "loong64",
}


# --- the registry -------------------------------------------------------------------------------


def test_canonical_names_are_gos_goarch_names() -> None:
    assert [a.name for a in GNU] == CANONICAL
    assert archmod.known_names() == [*CANONICAL, "amd64-musl", "arm64-musl", "386-musl", "wasm"]
    for a in GNU:
        assert a.goarch == a.name


def test_every_name_and_alias_is_unique_and_lower_case() -> None:
    names = [n for a in ARCHES for n in (a.name, *a.aliases)]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert all(n == n.lower() and n.strip() == n and "," not in n for n in names)
    assert not set(names) & set(archmod.SPECIAL_NAMES)


@pytest.mark.parametrize("a", ARCHES, ids=str)
def test_fields_are_consistent(a: archmod.Arch) -> None:
    assert a.bits in (32, 64)
    if not a.linux_elf:  # wasm: none of the Linux/ELF fields (test_wasm.py)
        assert (a.qemu_name, a.debian_arch, a.gnu_triple, a.oci_platform, a.elf_machine) == ("",) * 5
        return
    assert a.elf_class == a.bits
    assert a.endian in ("little", "big")
    assert a.elf_endian == ("ELFDATA2LSB" if a.endian == "little" else "ELFDATA2MSB")
    assert a.elf_machine.startswith("EM_")
    assert a.oci_platform.startswith("linux/")
    assert (a.goarm is not None) == (a.name == "arm")
    assert str(a) == a.name
    assert repr(a) == f"Arch({a.name!r})"
    if a.rust_triple is not None:
        assert a.rust_triple.count("-") >= 2 and "linux" in a.rust_triple
    assert "linux" in a.gnu_triple


def test_records_that_must_differ_do() -> None:
    for field in ("qemu_name", "debian_arch", "gnu_triple", "oci_platform"):
        values = [getattr(a, field) for a in GNU]
        assert len(values) == len(set(values)), field
    # ElfInfo.arch maps a binary back through (machine, class, endianness): no two CPUs share it
    # (a musl column shares its glibc twin's, and maps back to that twin).
    elf_keys = [(a.elf_machine, a.elf_class, a.endian) for a in GNU]
    assert len(elf_keys) == len(set(elf_keys))


def test_word_size_and_byte_order_facts() -> None:
    assert {a.name for a in ARCHES if a.endian == "big"} == {"ppc64", "s390x", "mips64", "mips"}
    assert {a.name for a in ARCHES if a.bits == 32} == {"386", "arm", "mipsle", "mips", "386-musl", "wasm"}


@pytest.mark.parametrize(("alias", "name"), sorted(ALIASES.items()))
def test_aliases_resolve(alias: str, name: str) -> None:
    assert get(alias) is A[name]
    assert get(alias.upper()) is A[name]
    assert get(f"  {alias} ") is A[name]


def test_host_is_the_machine_we_run_on() -> None:
    machine = platform.machine().lower()
    assert host() is get({"armv7l": "arm", "armv8l": "arm"}.get(machine, machine))


# --- parse_list -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "expected"), [
    (["arm64,s390x"], ["arm64", "s390x"]),
    (["arm64", "s390x"], ["arm64", "s390x"]),
    (["s390x", "arm64,386"], ["s390x", "arm64", "386"]),  # order of first mention
    (["arm64,arm64", "arm64"], ["arm64"]),
    (["aarch64,arm64,x86_64,amd64"], ["arm64", "amd64"]),  # an alias and its name are one arch
    ([" ARM64 , S390X "], ["arm64", "s390x"]),
    (["arm64,,s390x,"], ["arm64", "s390x"]),
    (["i686,mipsel,ppc64el,loongarch64"], ["386", "mipsle", "ppc64le", "loong64"]),
])  # fmt: skip
def test_parse_list(values: list[str], expected: list[str]) -> None:
    assert [a.name for a in parse_list(values)] == expected


@pytest.mark.parametrize("values", [[], [""], [" , "], ["native"], ["NATIVE"]])
def test_empty_and_native_mean_the_host(values: list[str]) -> None:
    assert parse_list(values) == [host()]


def test_native_dedups_with_the_hosts_name() -> None:
    assert parse_list([f"{host().name},native"]) == [host()]
    assert parse_list(["s390x,native,s390x"]) == (
        [A["s390x"], host()] if host().name != "s390x" else [A["s390x"]]
    )


def test_all_is_every_glibc_arch_in_registry_order() -> None:
    assert parse_list(["all"]) == ALL
    assert parse_list(["ALL", "arm64"]) == ALL


def test_all_after_names_keeps_their_order_and_adds_the_rest() -> None:
    result = parse_list(["s390x,all"])
    assert result[0] is A["s390x"]
    assert sorted(a.name for a in result) == sorted([*CANONICAL, "wasm"])
    assert len(result) == len(ALL)


def test_all_means_the_given_set_when_there_is_one() -> None:
    runnable = [A["amd64"], A["arm64"]]
    assert parse_list(["all"], all_arches=runnable) == runnable
    assert parse_list(["s390x,all"], all_arches=runnable) == [A["s390x"], *runnable]


@pytest.mark.parametrize(("bad", "suggestion"), [
    ("arm46", "arm64"),
    ("aarch46", "aarch64"),
    ("mips64e", "mips64le"),
    ("s390xx", "s390x"),
    ("amd", "amd64"),
])  # fmt: skip
def test_unknown_name_suggests_the_closest(bad: str, suggestion: str) -> None:
    with pytest.raises(ArchError) as excinfo:
        parse_list([f"amd64,{bad}"])
    text = str(excinfo.value)
    assert f"unknown architecture {bad!r}" in text
    assert f"Did you mean {suggestion!r}?" in text


def test_unknown_name_lists_every_valid_name() -> None:
    with pytest.raises(ArchError) as excinfo:
        get("bogus")
    text = str(excinfo.value)
    assert "Did you mean" not in text  # nothing is close to "bogus"
    valid = text.split("Valid names:", 1)[1]
    for name in [*CANONICAL, "native", "all", *ALIASES]:
        assert name in valid
    assert isinstance(excinfo.value, ValueError)
