"""Issue #14 in the code domain: ``seqdiff infill`` refuses every bad value and model folder with exit status
2 and one line naming it (no traceback, no output); ``seqdiff serve`` with a bad code model exits 2; the
editor protocols answer lone surrogates, NUL bytes and any JSON with a 4xx (or an infill), never a 500;
prompt tokenisation runs off the event loop.

Cases tested elsewhere (see tests/test_bad_input.py for the whole table): malformed bodies and wrong types on
/infill, /completion, /v1/completions in test_serve::test_malformed_bodies_are_400 and
test_wrong_types_and_huge_values_are_400; ``--threads 0``, ``--max-tokens``, ``--line`` errors in
test_cli::test_usage_errors_exit_2; a folder with no model section in
test_serve_cli::test_a_model_that_cannot_load_exits_2."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqdiff.testing import run_cli

FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("src") / "mod.py"
    path.write_text("def add(a, b):\n    return a + b\n")
    return path


def refused(argv: list[str]) -> str:
    """Exit 2, nothing on stdout, the last stderr line an error, no traceback."""
    code, out, err = run_cli(argv)
    assert code == 2 and out == "" and "Traceback" not in err, (argv, code, err)
    assert "error:" in err.strip().splitlines()[-1], err
    return err


# ---------------------------------------------------------------- 6: every numeric flag

FLAGS_HUGE_IS_BAD = ["--max-tokens", "--candidates", "--threads", "--remask-rounds"]
FLAGS_HUGE_IS_FINE = ["--time-budget-ms", "--n-indent", "--temperature", "--tokens-per-step"]
NEGATIVE_OR_NOT_A_NUMBER = st.sampled_from(["nan", "inf", "-inf", "-1", "-0.5", "", "1,5", "0x10"]) | \
    st.integers(max_value=-1).map(str)
HUGE = st.sampled_from(["1e308", str(10**30), "100000000"]) | st.integers(min_value=10**6).map(str)


@FAST
@given(flag=st.sampled_from(FLAGS_HUGE_IS_BAD + FLAGS_HUGE_IS_FINE), value=NEGATIVE_OR_NOT_A_NUMBER, data=st.data())
def test_bad_numbers(src, tiny_model_dir, flag, value, data):
    if flag in FLAGS_HUGE_IS_BAD and data.draw(st.booleans()):
        value = data.draw(HUGE)
    err = refused(["infill", "--file", str(src), "--line", "2", "--model", str(tiny_model_dir), f"{flag}={value}"])
    assert flag in err.strip().splitlines()[-1], err


@pytest.mark.parametrize("argv, needle", [
    (["--temperature", "nan"], "--temperature nan must be a finite number"),
    (["--temperature", "inf"], "--temperature inf must be a finite number"),
    (["--device", "tpu9"], "--device 'tpu9' is not a torch device"),
    (["--threads", "-1"], "--threads -1 must be >= 1"),
    (["--threads", "100000000"], "--threads 100000000 is more than this machine's"),
])
def test_named_values(src, tiny_model_dir, argv, needle):
    assert needle in refused(["infill", "--file", str(src), "--line", "2", "--model", str(tiny_model_dir), *argv])


# ---------------------------------------------------------------- 3: model folders

def _bad_folder(src: Path, dst: Path, model: dict | None = None, raw: str | None = None,
                tokenizer: str | None = None) -> Path:
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    config["model"].update(model or {})
    (dst / "config.json").write_text(raw if raw is not None else json.dumps(config))
    if tokenizer is not None:
        (dst / "tokenizer.json").write_text(tokenizer)
    return dst


BAD_FOLDERS = [
    ({"model": {"n_heads": 0}}, "n_heads=0"),
    ({"model": {"d_model": -32}}, "d_model=-32"),
    ({"model": {"ffn_dim": -4}}, "ffn_dim=-4"),
    ({"model": {"d_model": 65536, "n_layers": 1000}}, "parameters"),
    ({"model": {"vocab_size": 1e12}}, "vocab_size"),
    ({"raw": "[1, 2]"}, "is not a JSON object"),
    ({"tokenizer": '{"tokens": 5}'}, "tokenizer.json"),
    ({"tokenizer": '{"type": "char", "tokens": 5}'}, "tokenizer.json"),
    ({"tokenizer": "[]"}, "tokenizer.json"),
]


@pytest.mark.parametrize("change, needle", BAD_FOLDERS, ids=[n + str(i) for i, (_, n) in enumerate(BAD_FOLDERS)])
def test_bad_model_folders(src, tiny_model_dir, tmp_path, monkeypatch, change, needle):
    def no_tensors(*args, **kwargs):
        raise AssertionError("weights were allocated for a config that should have been refused")

    if "model" in change or "raw" in change:
        monkeypatch.setattr("seqdiff.checkpoint.load_weights", no_tensors)
    folder = _bad_folder(tiny_model_dir, tmp_path / "bad", **change)
    assert needle in refused(["infill", "--file", str(src), "--line", "2", "--model", str(folder)])


def test_serve_bad_model_exits_2(tiny_model_dir, tmp_path):
    folder = _bad_folder(tiny_model_dir, tmp_path / "bad", model={"d_model": 65536, "n_layers": 1000})
    proc = subprocess.run([sys.executable, "-m", "seqdiff", "serve", "--domain", "code", "--port", "0",
                           "--log-level", "critical", "--model", str(folder)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2, proc.stderr
    assert "failed to load" in proc.stderr and "parameters" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------- 4, 8: the editor protocols

starlette = pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from seqdiff.serve.app import create_app as create_host  # noqa: E402
from seqdiff_code.serve.backend import CodeInfillerBackend  # noqa: E402
from seqdiff_code.serve.routes import contribution  # noqa: E402


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    return CodeInfillerBackend(str(tiny_model_dir), candidates=1)


@pytest.fixture(scope="module")
def client(backend):
    with TestClient(create_host([contribution(backend)]), raise_server_exceptions=False) as c:
        yield c


def _post(client, path: str, body) -> object:
    """POST ``body`` as JSON with non-ASCII \\u-escaped (how a lone surrogate reaches a server)."""
    return client.post(path, content=json.dumps(body).encode(), headers={"content-type": "application/json"})


def _answered(r) -> None:
    assert r.status_code < 500, r.text
    if r.status_code != 200:
        assert 400 <= r.status_code < 500 and r.json()["error"]["message"], r.text


SURROGATE_CASES = [
    ("/infill", {"input_prefix": "s = '\ud800'\n", "input_suffix": "\n", "n_predict": 6}),
    ("/infill", {"input_prefix": "s = '\ud800'\n", "input_suffix": "\n", "n_predict": 6, "stream": True}),
    ("/v1/completions", {"prompt": "x\ud800", "max_tokens": 4}),
    ("/v1/completions", {"prompt": "x\ud800", "max_tokens": 4, "stream": True}),
    ("/v1/completions", {"prompt": "x", "suffix": "\udfff", "max_tokens": 4}),
    ("/completion", {"prompt": "\ud83d", "n_predict": 4}),
]


@pytest.mark.parametrize("path, body", SURROGATE_CASES, ids=range(len(SURROGATE_CASES)))
def test_surrogate_is_400(client, path, body):
    r = _post(client, path, body)
    assert r.status_code == 400 and "surrogate" in r.json()["error"]["message"], r.text


def test_nul_bytes_are_answered(client):
    _answered(_post(client, "/infill", {"input_prefix": "a = '\x00'\n", "input_suffix": "\x00", "n_predict": 4}))
    _answered(_post(client, "/v1/completions", {"prompt": "\x00" * 50, "max_tokens": 4}))


TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=30)
INFILL_TEXT = ["input_prefix", "input_suffix", "prompt", "extra_text", "extra_filename", "stop"]
OPENAI_TEXT = ["prompt", "suffix", "stop", "model"]


def _infill_body(field: str, text: str) -> dict:
    body = {"input_prefix": "def f(x):\n", "input_suffix": "\n", "prompt": "    return ", "n_predict": 4,
            "t_max_predict_ms": 200}
    if field == "extra_text":
        body["input_extra"] = [{"text": text, "filename": "a.py"}]
    elif field == "extra_filename":
        body["input_extra"] = [{"text": "x = 1\n", "filename": text}]
    elif field == "stop":
        body["stop"] = [text]
    else:
        body[field] = text
    return body


@FAST
@given(field=st.sampled_from(INFILL_TEXT), text=TEXT, stream=st.booleans())
def test_any_text_on_infill(client, field, text, stream):
    _answered(_post(client, "/infill", {**_infill_body(field, text), "stream": stream}))


@FAST
@given(field=st.sampled_from(OPENAI_TEXT), text=TEXT, stream=st.booleans())
def test_any_text_on_v1_completions(client, field, text, stream):
    body = {"prompt": "<fim_prefix>x = <fim_suffix>\n<fim_middle>", "max_tokens": 4, "stream": stream}
    body[field] = [text] if field == "stop" else text
    _answered(_post(client, "/v1/completions", body))


ANY_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                        max_leaves=8)
INFILL_FIELDS = ["input_prefix", "input_suffix", "input_extra", "prompt", "n_predict", "n_cmpl", "stop", "n_indent",
                 "temperature", "top_k", "top_p", "seed", "stream", "response_fields", "t_max_predict_ms", "samplers"]
OPENAI_FIELDS = ["prompt", "suffix", "max_tokens", "n", "stop", "temperature", "top_p", "seed", "stream", "echo",
                 "logprobs", "model"]


@FAST
@given(field=st.sampled_from(INFILL_FIELDS), value=ANY_JSON)
def test_any_json_in_any_infill_field(client, field, value):
    _answered(_post(client, "/infill", {**_infill_body("prompt", "    return "), field: value}))


@FAST
@given(field=st.sampled_from(OPENAI_FIELDS), value=ANY_JSON)
def test_any_json_in_any_openai_field(client, field, value):
    _answered(_post(client, "/v1/completions", {"prompt": "x = ", "max_tokens": 4, field: value}))


def test_tokenisation_off_the_loop(client, backend, monkeypatch):
    """Counting a prompt's tokens (a 1 MB prompt takes about a second) never runs on the event loop."""
    on_loop = []
    count = backend.count_tokens

    def recording(text: str) -> int:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:  # no loop in this thread: a worker
            on_loop.append(False)
        return count(text)

    monkeypatch.setattr(backend, "count_tokens", recording)
    _answered(_post(client, "/infill", _infill_body("prompt", "    return ")))
    _answered(_post(client, "/v1/completions", {"prompt": "x = ", "max_tokens": 4}))
    assert on_loop and not any(on_loop)
