"""``seqdiff serve`` from this checkout in a subprocess, for the scripts that measure it (load test, infill
evaluation, llama.vim check): start it, wait until ``GET /health`` answers 200, stop it with SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_serve(options: list[str], port: int, threads: int | None = None, timeout_s: float = 300.0) -> subprocess.Popen:
    """``seqdiff serve --port PORT OPTIONS`` with this tree's packages first on the path; its output goes to
    a log file (``proc.log_path``). A server that exits while loading (exit 2) raises with its log."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("", "domains/protein", "domains/code"))}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
        options = [*options, "--threads", str(threads)]
    log = tempfile.NamedTemporaryFile("w+", prefix="seqdiff-serve-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "seqdiff", "serve", "--host", "127.0.0.1", "--port", str(port),
                             *options], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.log_path = log.name  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"seqdiff serve exited with {proc.returncode}: {server_log(proc)[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc
        except (OSError, urllib.error.HTTPError):  # refused, or 503 while the model loads
            pass
        time.sleep(0.2)
    stop_serve(proc)
    raise RuntimeError(f"seqdiff serve did not answer /health within {timeout_s:.0f} s")


def server_log(proc: subprocess.Popen) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def stop_serve(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
