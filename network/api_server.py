"""Serving the API app with hypercorn's trio worker, inside the node's nursery.

`serve_api` is an ordinary trio service: `await nursery.start(serve_api, app, host, port)`
returns the port actually bound (pass 0 to let the OS choose), and cancelling the nursery or
setting `shutdown` stops it. Open event streams get `graceful_s` to finish before they are cut.
"""

from __future__ import annotations

import logging
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

log = logging.getLogger("depositnet.api")


def hypercorn_config(host: str, port: int, *, graceful_s: float = 1.0) -> Config:
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("depositnet.api.server")
    config.graceful_timeout = graceful_s
    config.keep_alive_timeout = 30
    config.h11_max_incomplete_size = 64 * 1024  # request line and headers
    config.include_server_header = False
    return config


def bound_port(binds: list[str]) -> int:
    """The port in hypercorn's first bind, e.g. `http://127.0.0.1:43127` -> 43127."""
    if not binds:
        raise RuntimeError("hypercorn bound no socket")
    return int(binds[0].rsplit(":", 1)[1])


async def serve_api(
    app: Any,
    host: str,
    port: int,
    *,
    shutdown: trio.Event | None = None,
    graceful_s: float = 1.0,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` on host:port until cancelled or `shutdown` is set; reports the bound port."""
    stop = shutdown if shutdown is not None else trio.Event()
    config = hypercorn_config(host, port, graceful_s=graceful_s)

    async def run(*, task_status: trio.TaskStatus[list[str]]) -> None:
        await serve(app, config, shutdown_trigger=stop.wait, task_status=task_status)

    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(run)
        port_bound = bound_port(binds)
        log.info("API listening", extra={"url": binds[0]})
        task_status.started(port_bound)
