"""SIGTERM ends a session as Ctrl-C does.

CI runners cancel a job with SIGTERM (GitHub Actions after SIGINT; GitLab, Docker and Kubernetes
directly), then SIGKILL a few seconds later. Python's default for SIGTERM is to die at once: no
report, no summary, and pytest's status 143. Here the first SIGTERM raises ``Terminated``, a
``KeyboardInterrupt``, in the main thread: pytest then stops as after Ctrl-C (the plugin kills
every process it started, the reports and the summary are written, exit status 2).

The handler is installed by the plugin's ``pytest_configure``; a SIGTERM that comes before
collection starts is kept until then (raised earlier, pytest would skip ``pytest_sessionfinish``).
A second SIGTERM while the session is ending does not interrupt the writing of the reports; it
is said on stderr (SIGKILL ends the process at once, and the watchdog still takes what it
started). Under pytest-xdist every worker has the handler too: a SIGTERM to the whole process
group then ends each worker as Ctrl-C does, and xdist's controller stops the run as it does
after a worker's Ctrl-C; a SIGTERM to the controller alone ends the workers through xdist's own
shutdown (execnet interrupts each worker's main thread).
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any

import pytest


class Terminated(KeyboardInterrupt):
    """The session received SIGTERM: it stops as after Ctrl-C."""

    __module__ = "builtins"  # pytest prints "Terminated: ..." as it prints "KeyboardInterrupt"


_PREVIOUS_KEY = pytest.StashKey[Any]()


class _Handler:
    """The SIGTERM handler of one session: raise once, then only say it. Raised before the
    session has started (other plugins' configure, sessionstart), pytest would end without
    ``pytest_sessionfinish``, so without reports: the signal is then kept until collection starts."""

    def __init__(self) -> None:
        self.raised = False
        self.started = False
        self.pending = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self) -> None:
        self.started = True  # from here on, pytest runs pytest_sessionfinish however it stops
        if self.pending:
            self.raised = True
            raise Terminated("SIGTERM (while the session started): the run was cancelled; "
                             "stopping as after Ctrl-C")  # fmt: skip

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if not self.started and not self.raised:
            self.pending = True
            return
        if self.raised:
            sys.stderr.write("multiarch: SIGTERM again while the session ends; the reports are being "
                             "written (SIGKILL ends pytest at once)\n")  # fmt: skip
            return
        self.raised = True
        raise Terminated("SIGTERM: the run was cancelled; stopping as after Ctrl-C")

    @pytest.hookimpl(tryfirst=True)
    def pytest_keyboard_interrupt(self) -> None:
        self.raised = True  # Ctrl-C: the session is ending; a SIGTERM now must not cut that short

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        self.raised = True  # the reports are being written: let them be


_HANDLER_KEY = pytest.StashKey[_Handler]()
_NAME = "multiarch-sigterm"


def handle_sigterm(config: pytest.Config) -> None:
    """Handle SIGTERM for this session (main thread only: Python runs handlers nowhere else)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        return  # ignored on purpose by whoever started us (Python leaves an ignored SIGINT alone too)
    handler = _Handler()
    config.stash[_PREVIOUS_KEY] = signal.signal(signal.SIGTERM, handler)
    config.stash[_HANDLER_KEY] = handler
    config.pluginmanager.register(handler, _NAME)


def restore_sigterm(config: pytest.Config) -> None:
    """Put back the handler that was there before ``handle_sigterm`` (pytester runs sessions in-process)."""
    if _PREVIOUS_KEY not in config.stash or threading.current_thread() is not threading.main_thread():
        return
    previous = config.stash[_PREVIOUS_KEY]
    signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    del config.stash[_PREVIOUS_KEY]
    config.pluginmanager.unregister(config.stash[_HANDLER_KEY], _NAME)
