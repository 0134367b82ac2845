"""One outbox file per idempotency key, written once: a resent message (a step retried after its worker died
between writing and committing) finds its file and leaves it as it is."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Literal


def file_name(idempotency_key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", idempotency_key).strip("-")


def write_once(path: Path, data: bytes, same_message: Callable[[bytes], bool]) -> Literal["written", "kept",
                                                                                          "replaced"]:
    """Write `path` whole unless it already holds the same message (`same_message(existing)`): then keep it.

    The data goes to a private temporary file that is hard-linked into place; the link fails when the name exists,
    so two writers of one key (a zombie worker and its successor) leave one complete file. A file under the key
    that holds a different message is left over from a database that was reset (run ids start again at 1): it is
    replaced, so the new run's message is not lost.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    try:
        try:
            os.link(tmp, path)
            return "written"
        except FileExistsError:
            pass
        if same_message(path.read_bytes()):
            return "kept"
        tmp.replace(path)
        return "replaced"
    finally:
        tmp.unlink(missing_ok=True)
