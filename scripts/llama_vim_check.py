"""Real-client check: llama.vim in classic Vim under tmux, talking to ``seqdiff serve``, no configuration.

Starts the server from this tree on llama.vim's default endpoint (127.0.0.1:8012; refuses when the port is
taken, so it never talks to somebody else's server), opens an empty Python file in ``vim -Nu NONE`` with
only the plugin on the runtime path, types ``def circle_area(radius):`` and Enter, waits for the ghost
text (polling ``tmux capture-pane`` until a deadline), presses Tab, writes the file and prints the buffer.

    git clone https://github.com/ggml-org/llama.vim /tmp/llama.vim   # not part of this repository
    python scripts/llama_vim_check.py /tmp/llama.vim [--backend fake] [--timeout 60]

Exit status: 0 when a suggestion was shown and Tab put it into the buffer, 1 otherwise, 2 when vim, tmux,
curl or the plugin is missing or the port is taken.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serve_process import start_serve, stop_serve  # noqa: E402  (scripts/, beside this file)
PORT = 8012  # llama.vim's default endpoint_fim
TYPED = "def circle_area(radius):"


def missing(plugin: Path) -> str | None:
    for tool in ("vim", "tmux", "curl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not (plugin / "autoload" / "llama.vim").is_file():
        return f"{plugin} is not a llama.vim checkout (no autoload/llama.vim)"
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", PORT)) == 0:
            return f"port {PORT} is already in use: stop that server first"
    return None


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def wait_for(session: str, ready, timeout: float) -> str | None:
    """Poll the pane until ``ready(text)``; the pane text, or None at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pane = tmux("capture-pane", "-p", "-t", session)
        if ready(pane):
            return pane
        time.sleep(0.1)
    return None


def check(plugin: Path, backend: str, timeout: float) -> int:
    server = start_serve(["--domain", "code", "--backend", backend], PORT)
    session = f"llamavim{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="llama-vim-"))
    path = work / "circle.py"
    path.write_text("")
    try:
        tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", "vim", "-Nu", "NONE", "-i", "NONE",
             "--cmd", f"set rtp^={plugin}", "-c", "runtime plugin/llama.vim", str(path))
        if wait_for(session, lambda p: "circle.py" in p, 20) is None:
            print("vim did not start", file=sys.stderr)
            return 1
        tmux("send-keys", "-t", session, "i")
        tmux("send-keys", "-t", session, "-l", TYPED)
        start = time.monotonic()
        tmux("send-keys", "-t", session, "Enter")

        def ghost(pane: str) -> bool:
            lines = pane.splitlines()
            return any(line.strip() and "-- INSERT --" not in line and not line.startswith("~")
                       for line in lines[1:-1])

        pane = wait_for(session, ghost, timeout)
        if pane is None:
            print(f"no ghost text within {timeout:.0f} s", file=sys.stderr)
            return 1
        print(f"ghost text after {time.monotonic() - start:.2f} s:\n" + "\n".join(pane.rstrip().splitlines()[:8]))
        tmux("send-keys", "-t", session, "Tab")
        tmux("send-keys", "-t", session, "Escape")
        tmux("send-keys", "-t", session, ":w", "Enter")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not path.read_text():
            time.sleep(0.1)
        buffer = path.read_text()
        print("buffer after Tab:\n" + buffer)
        return 0 if buffer.startswith(TYPED) and buffer[len(TYPED):].strip() else 1
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        stop_serve(server)
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plugin", type=Path, help="a llama.vim checkout (github.com/ggml-org/llama.vim)")
    p.add_argument("--backend", choices=("code", "fake"), default="code", help="seqdiff serve --backend")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the ghost text")
    args = p.parse_args(argv)
    problem = missing(args.plugin.resolve())
    if problem:
        print(f"llama_vim_check: {problem}", file=sys.stderr)
        return 2
    return check(args.plugin.resolve(), args.backend, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
