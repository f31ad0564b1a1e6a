"""Run a binary in a Docker container of its architecture's OCI platform (``linux/arm64``...).

Through the Docker SDK. The image is, by default, built here from ``scratch`` with the cross
sysroot's shared libraries (a static binary needs none, a dynamic one finds its loader and libc
in /lib), so no registry is needed; ``multiarch_docker_images`` names a user's own image per
architecture to test inside their real userland. The binary's directory and the working
directory are bind-mounted at the same paths. A foreign platform runs through the kernel's
binfmt_misc handler, which must have the ``F`` flag (the container has no QEMU inside).
The timeout kills the container; every container is removed, and ``stop_all`` (Ctrl-C, the
end of a session) kills the ones still running.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tarfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_multiarch import arch as archmod
from pytest_multiarch import elf as elfmod
from pytest_multiarch import proc
from pytest_multiarch.arch import Arch
from pytest_multiarch.executors import binfmt_misc as binfmt
from pytest_multiarch.executors.base import ExecutorUnavailable, Invocation, RunRequest, require_linux_elf
from pytest_multiarch.executors.native import runs_natively
from pytest_multiarch.proc import ProcResult

LABEL = "pytest-multiarch"
PING_TIMEOUT = 10
_images: dict[str, str] = {}  # arch → a user's image (multiarch_docker_images)
_live: set[str] = set()  # ids of containers started and not yet removed
_lock = threading.Lock()


def configure_images(mapping: Mapping[str, str]) -> None:
    """Architectures whose containers use a given image instead of the scratch + sysroot one."""
    _images.clear()
    _images.update(mapping)


def _socket() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def _fix() -> str:
    return (
        "install and start a Docker engine (Debian: apt-get install docker.io, then dockerd), or "
        "point DOCKER_HOST at one, or use --arch-executor=qemu"
    )


_clients: dict[str, Any] = {}


def client() -> Any:
    """A connected Docker SDK client, one per DOCKER_HOST (raises when no engine answers)."""
    import docker  # imported when used: it is slow to import and most runs never need it

    with _lock:
        c = _clients.get(_socket())
    if c is not None:
        return c
    c = docker.from_env(timeout=PING_TIMEOUT)
    c.ping()
    with _lock:
        _clients[_socket()] = c
    return c


def kill_all() -> None:
    """Kill and remove every container this process started that is still there."""
    with _lock:
        ids = list(_live)
    if not ids:
        return
    try:
        c = client()
    except Exception:  # the engine is gone: nothing we can do about its containers
        return
    for cid in ids:
        with contextlib.suppress(Exception):
            c.containers.get(cid).remove(force=True)


def _sysroot_files(arch: Arch) -> list[Path]:
    root = Path(f"/usr/{arch.gnu_triple}")
    found = []
    for sub in ("lib", "lib64"):
        d = root / sub
        if d.is_dir():
            found += [p for p in sorted(d.iterdir()) if ".so" in p.name and (p.is_file() or p.is_symlink())]
    return found


def _context(files: Sequence[Path], arch: Arch) -> bytes:
    """A build context: FROM scratch, the sysroot's shared libraries at /lib and /lib64."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dockerfile = b"FROM scratch\n" + (b"COPY sysroot/ /\n" if files else b"")
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
        prefix = f"/usr/{arch.gnu_triple}/"
        for f in files:
            tar.add(str(f), arcname="sysroot/" + str(f).removeprefix(prefix), recursive=False)
    return buf.getvalue()


_build_lock = threading.Lock()


def image_for(arch: Arch) -> str:
    """The image to run ``arch`` binaries in: the user's, else ours (built once per sysroot)."""
    if arch.name in _images:
        return _images[arch.name]
    with _build_lock:  # batches of one arch start together: one build
        return _our_image(arch)


def _our_image(arch: Arch) -> str:
    files = _sysroot_files(arch)
    stamp = hashlib.sha256("\n".join(f"{f}:{os.lstat(f).st_size}" for f in files).encode()).hexdigest()[:12]
    tag = f"pytest-multiarch/sysroot:{arch.name}-{stamp}"
    c = client()
    try:
        c.images.get(tag)
        return tag
    except Exception:
        pass
    c.images.build(fileobj=io.BytesIO(_context(files, arch)), custom_context=True, tag=tag,
                   platform=arch.oci_platform, rm=True, labels={LABEL: "sysroot"})  # fmt: skip
    return tag


class DockerExecutor:
    name = "docker"

    def check(self, arch: Arch) -> None:
        require_linux_elf(self.name, arch)
        try:
            client()
        except Exception as exc:
            reason = f"no Docker engine answers at {_socket()} ({exc})"
            raise ExecutorUnavailable(arch, reason, _fix()) from None
        if runs_natively(arch):
            return
        handler = binfmt.handler_for(arch)
        if handler is None or "F" not in handler.flags:
            why = "has none" if handler is None else f"has {handler.name} without the F flag"
            raise ExecutorUnavailable(
                arch,
                f"{arch.oci_platform} containers run through a binfmt_misc handler with the F flag, and "
                f"this kernel {why}",
                f"sudo python -m pytest_multiarch binfmt install {arch.name} (or --binfmt-install)",
            )

    def describe(self, arch: Arch) -> str:
        try:
            version = client().version().get("Version", "?")
        except Exception:
            return "docker: no engine"
        return f"docker {arch.oci_platform} (engine {version})"

    def invocation(self, binary: Path, args: Sequence[str], arch: Arch) -> Invocation:
        elf = elfmod.check_arch(binary, arch)  # an ELF of arch, or ElfMismatch saying what it is
        if elf.interpreter is not None and arch.name not in _images and not _sysroot_files(arch):
            raise ExecutorUnavailable(
                arch,
                f"{binary} is dynamically linked and there is no {arch.name} sysroot to build an image from",
                f"apt-get install libc6-dev-{arch.debian_arch}-cross, link statically, or set "
                f"multiarch_docker_images = {arch.name}=<your image>",
            )
        image = image_for(arch)
        binary = binary.resolve()
        return Invocation(
            argv=("docker", "run", "--rm", "--platform", arch.oci_platform, image, str(binary), *args),
            notes=(f"image {image}",), container=(arch.oci_platform, image), command=(str(binary), *args),
        )  # fmt: skip

    def bind(
        self, invocation: Invocation, added: Mapping[str, str], cwd: str | os.PathLike[str]
    ) -> Invocation:
        """The exact `docker run` line: mounts, working directory and environment as options. The
        container gets what the caller added (not the host's PATH, HOME...)."""
        assert invocation.container is not None
        env = {**added, **invocation.env}
        platform, image = invocation.container
        binary_dir, workdir = str(Path(invocation.command[0]).parent), os.fspath(cwd)
        argv = ["docker", "run", "--rm", "--platform", platform, "-v", f"{binary_dir}:{binary_dir}:ro",
                "-v", f"{workdir}:{workdir}", "-w", workdir]  # fmt: skip
        for extra in invocation.writable:
            argv += ["-v", f"{extra}:{extra}"]
        for k, v in env.items():
            argv += ["-e", f"{k}={v}"]
        argv += [image, *invocation.command]
        return Invocation(argv=tuple(argv), env=dict(env), notes=invocation.notes, cwd=None,
                          container=invocation.container, command=invocation.command,
                          writable=invocation.writable)  # fmt: skip

    def close(self) -> None:
        """Kill and remove the containers of this process that are still there."""
        kill_all()

    def execute(self, invocation: Invocation, request: RunRequest) -> ProcResult:
        """Run the invocation's command in a container: wait (asking the request's supervision
        whether to stop it), stop it on timeout, always remove it. The container's environment
        is the bound invocation's, not ``request.env`` (the host's)."""
        timeout = request.timeout
        if request.input is not None:
            fix = "use --arch-executor=binfmt or qemu"
            raise ExecutorUnavailable(archmod.host(), "the docker executor does not pass stdin", fix)
        assert invocation.container is not None
        sup = request.supervision or proc.Supervision()
        platform, image = invocation.container
        command = list(invocation.command)
        binary_dir = str(Path(command[0]).parent)
        workdir = os.fspath(request.cwd)
        volumes = {binary_dir: {"bind": binary_dir, "mode": "ro"}, workdir: {"bind": workdir, "mode": "rw"}}
        volumes.update({d: {"bind": d, "mode": "rw"} for d in invocation.writable})
        if proc.stopping():
            raise proc.Stopped(f"not starting a {platform} container: the test session is stopping")
        c = client()
        proc.on_stop(kill_all)
        start = time.monotonic()
        container = c.containers.create(
            image, command=command, platform=platform, environment=dict(invocation.env), working_dir=workdir,
            volumes=volumes, labels={LABEL: "run"}, network_disabled=True,
            tmpfs={"/tmp": "rw,exec"},  # t.TempDir(), std::env::temp_dir(): scratch has no /tmp
        )  # fmt: skip
        with _lock:
            _live.add(container.id)
        reason = ""
        try:
            container.start()
            cap = sup.capture
            followers = []
            if cap is not None:  # both streams followed live into their files
                followers = [_Follower(container, cap.stdout, True), _Follower(container, cap.stderr, False)]
            for f in followers:
                f.start()
            code, reason = _wait(container, timeout, sup)
            for f in followers:
                f.join(timeout=10)
            complete = bool(followers) and all(f.complete and not f.is_alive() for f in followers)
            out, err = (b"", b"") if complete else _logs(container, cap)
        finally:
            with contextlib.suppress(Exception):
                container.remove(force=True)
            with _lock:
                _live.discard(container.id)
        if code >= 128 and not reason:
            code = -(code - 128)  # killed by a signal inside the container: as subprocess says it
        return ProcResult(invocation.argv, code, out, err, time.monotonic() - start, bool(reason), reason)


def _wait(container: Any, timeout: float, sup: proc.Supervision) -> tuple[int, str]:
    """(exit status, why it was stopped or ""): polls, asking the watch between polls."""
    deadline = time.monotonic() + timeout if timeout else float("inf")
    while True:
        try:
            status = container.wait(timeout=max(min(proc.WATCH_INTERVAL * 5, deadline - time.monotonic()), 1))
            return int(status.get("StatusCode", 1)), ""
        except Exception:  # the SDK's read timeout: still running
            if proc.stopping():
                raise proc.Stopped("the test session is stopping") from None
            if time.monotonic() >= deadline:
                reason = f"timed out after {timeout:.0f} s"
            else:
                reason = (sup.watch() or "") if sup.watch else ""
            if reason:
                _stop(container, sup.first_signal)
                return -9, reason


def _stop(container: Any, first: int) -> None:
    """proc.escalate for a container: the engine delivers the signals."""

    def send(sig: int) -> None:
        with contextlib.suppress(Exception):
            container.kill(signal=int(sig))

    def exited(seconds: float) -> bool:
        try:
            container.wait(timeout=seconds)
            return True
        except Exception:  # the SDK's read timeout: still running
            return False

    proc.escalate(send, exited, first)


class _Follower(threading.Thread):
    """Copies one of the container's streams into its capture file as it comes (so that the
    per-test limit sees tests run); ``complete`` once the stream ended normally."""

    def __init__(self, container: Any, path: Path, stdout: bool) -> None:
        super().__init__(daemon=True, name="multiarch-docker-logs")
        self.container, self.path, self.stdout, self.complete = container, path, stdout, False

    def run(self) -> None:
        with open(self.path, "wb") as f:
            try:
                which = {"stdout": self.stdout, "stderr": not self.stdout}
                chunks = self.container.logs(stream=True, follow=True, **which)
                for chunk in chunks:
                    f.write(chunk)
                    f.flush()
                self.complete = True
            except Exception:  # the engine went away or refused: _logs copies what it kept
                return


def _logs(container: Any, capture: proc.Capture | None) -> tuple[bytes, bytes]:
    """The container's stdout and stderr: in memory, or streamed into the capture files."""
    if capture is None:
        out, err = container.logs(stdout=True, stderr=False), container.logs(stdout=False, stderr=True)
        return out or b"", err or b""
    for path, which in ((capture.stdout, {"stdout": True, "stderr": False}),
                        (capture.stderr, {"stdout": False, "stderr": True})):  # fmt: skip
        with open(path, "wb") as f:
            for chunk in container.logs(stream=True, **which):
                f.write(chunk)
    return b"", b""
