"""Running the app under uvicorn: in the foreground (``seqdiff serve``) or in a background thread on a
free loopback port (tests, ``scripts/load_test.py``)."""

from __future__ import annotations

import logging

import ipaddress
import socket
import threading
import time

import uvicorn


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_address(host: str) -> str:
    """``[::1]`` as written in URLs is ``::1`` to the socket layer."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def run(app, host: str, port: int, log_level: str = "info") -> str | None:
    """Serve until interrupted. Returns the load failure that stopped the server early, if one did."""
    # editors keep connections open between keystrokes: a longer keep-alive than uvicorn's 5 s default
    server = uvicorn.Server(uvicorn.Config(app, host=bind_address(host), port=port, log_level=log_level,
                                           timeout_graceful_shutdown=5, timeout_keep_alive=30))
    ours = logging.getLogger("seqdiff.serve")  # our lines (models ready, client gone) where uvicorn's go
    before = ours.handlers, ours.propagate, ours.level  # restored after: the process may go on (tests, an API)
    ours.handlers, ours.propagate = list(logging.getLogger("uvicorn").handlers), False
    ours.setLevel(log_level.upper())
    failures: list[str] = []

    def stop(message: str) -> None:
        failures.append(message)
        server.should_exit = True

    app.state.seqdiff.on_load_failure = stop
    try:
        server.run()
    finally:
        ours.handlers, ours.propagate = before[0], before[1]
        ours.setLevel(before[2])
    return failures[0] if failures else None


class ThreadedServer:
    """``with ThreadedServer(app) as url:`` serves ``app`` on 127.0.0.1 (or ``host``) and a free port until the
    block ends; with ``wait_ready`` it waits until every contribution has loaded or failed."""

    def __init__(self, app, host: str = "127.0.0.1", log_level: str = "warning", wait_ready: bool = True):
        self.app = app
        self.host = host
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only then (otherwise
        # Nagle + delayed ACKs add ~40 ms to every response)
        address = bind_address(host)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://[{address}]:{self.port}" if family == socket.AF_INET6 else f"http://{address}:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=2,
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.wait_ready = wait_ready

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        if self.wait_ready:
            state = self.app.state.seqdiff
            while not state.settled:
                if time.monotonic() > deadline:
                    raise RuntimeError("the model did not load in 30 s")
                time.sleep(0.01)
        return self.url

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
