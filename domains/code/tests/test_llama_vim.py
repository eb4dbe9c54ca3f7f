"""llama.vim (a real editor client) against ``seqdiff serve``: skipped unless vim, tmux and curl are
installed and ``LLAMA_VIM`` names a llama.vim checkout (github.com/ggml-org/llama.vim, not vendored)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PLUGIN = os.environ.get("LLAMA_VIM", "")


@pytest.mark.skipif(not all(shutil.which(t) for t in ("vim", "tmux", "curl")), reason="vim, tmux or curl missing")
@pytest.mark.skipif(not (Path(PLUGIN) / "autoload" / "llama.vim").is_file(), reason="set LLAMA_VIM to a llama.vim checkout")
def test_llama_vim_shows_a_suggestion_and_tab_accepts_it():
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "llama_vim_check.py"), PLUGIN, "--backend", "fake",
                          "--timeout", "30"], capture_output=True, text=True, timeout=240)
    if run.returncode == 2:
        pytest.skip(run.stderr.strip())  # e.g. port 8012 taken by another server
    assert run.returncode == 0, run.stdout + run.stderr
    buffer = run.stdout.split("buffer after Tab:\n", 1)[1]
    assert buffer.startswith("def circle_area(radius):\npass  # 0")
