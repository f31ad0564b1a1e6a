"""cargo's JSON messages (``--message-format=json``): read as cargo writes them, line by line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

POLL_INTERVAL = 0.05  # how often cargo's messages are read while it builds


class Lines:
    """The JSON objects of the complete lines another process has appended to a file so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""

    def read(self, final: bool = False) -> list[dict[str, Any]]:
        """The objects of the lines completed since the last read (``final``: and the last line)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        *complete, self.partial = (self.partial + data).split(b"\n")
        if final:
            complete.append(self.partial)
            self.partial = b""
        return json_lines(b"\n".join(complete))


def json_lines(data: bytes) -> list[dict[str, Any]]:
    """The JSON objects of ``data``'s lines (other lines, e.g. a build script's, are skipped)."""
    out = []
    for line in data.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out
