"""The app served by a real uvicorn in a thread on 127.0.0.1: for tests about connections, the server's own
logging and whole-API fuzzing, which an in-process transport cannot show."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

STARTUP_TIMEOUT_SECONDS = 60.0
HTTP = "auto"  # as `crm serve`: httptools when installed


class LiveServer:
    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False,
                                lifespan="on", loop="asyncio", http=HTTP)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-server", daemon=True)
        self.port = 0

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(STARTUP_TIMEOUT_SECONDS)
