"""``seqdiff serve`` end to end: a real uvicorn server on 127.0.0.1 and a free port, a real HTTP client, the
exact payloads editor plugins send, and the fake backend (no model)."""

from __future__ import annotations

import json
import re

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
pytest.importorskip("starlette")

from seqdiff.serve.app import HostConfig  # noqa: E402
from seqdiff_code.serve import EchoBackend, ServeConfig, create_app  # noqa: E402
from seqdiff.serve.server import ThreadedServer  # noqa: E402

# llama.vim autoload/llama.vim: the FIM request and the background cache warm-up (anchors-ecosystem §1.2)
LLAMA_VIM_FIM = {
    "id_slot": 0, "input_prefix": "#include <stdio.h>\n\nint main(void) {\n", "input_suffix": "\n    return 0;\n}\n",
    "input_extra": [{"text": "static int helper(int x) {\n    return x + 1;\n}\n", "time": [1737000000, 12345],
                     "filename": "src/foo.c"}],
    "prompt": "    int n_threads = llama_", "n_predict": 128, "stop": [], "n_indent": 4, "top_k": 40, "top_p": 0.90,
    "samplers": ["top_k", "top_p", "infill"], "stream": False, "cache_prompt": True, "t_max_prompt_ms": 500,
    "t_max_predict_ms": 250,
    "response_fields": ["content", "timings/prompt_n", "timings/prompt_ms", "timings/prompt_per_token_ms",
                        "timings/prompt_per_second", "timings/predicted_n", "timings/predicted_ms",
                        "timings/predicted_per_token_ms", "timings/predicted_per_second", "truncated",
                        "tokens_cached"],
}
LLAMA_VIM_WARMUP = {
    "id_slot": 0, "input_prefix": "", "input_suffix": "", "input_extra": [{"text": "x = 1\n", "time": [1, 2],
                                                                           "filename": "a.py"}],
    "prompt": "", "n_predict": 0, "temperature": 0.0, "stop": [], "n_indent": 0, "top_k": 40, "top_p": 0.90,
    "samplers": [], "stream": False, "cache_prompt": True, "t_max_prompt_ms": 1, "t_max_predict_ms": 1,
    "response_fields": [""],
}
# llama.vscode src/llama-server.ts (anchors-ecosystem §1.3)
LLAMA_VSCODE_FIM = {
    "id_slot": 0, "input_prefix": "function add(a, b) {\n", "input_suffix": "\n}\n",
    "input_extra": [{"text": "export const x = 1;\n", "time": 1737000000000, "filename": "/abs/path.ts"}],
    "prompt": "  return ", "n_predict": 128, "n_cmpl": 3, "top_k": 40, "top_p": 0.99, "stream": False,
    "samplers": ["top_k", "top_p", "infill"], "cache_prompt": True, "n_indent": 4, "t_max_prompt_ms": 500,
    "t_max_predict_ms": 2500, "model": "whatever", "lora": [{"id": 0, "scale": 0.5}],
}
LLAMA_VSCODE_WARMUP = {**LLAMA_VSCODE_FIM, "n_predict": 0, "samplers": [], "t_max_predict_ms": 1}

INVALID_EXTRA = [  # llama.cpp tools/server/tests/unit/test_infill.py, with the message each must give
    ({}, 'extra_context chunk must contain a "text" field with a string value'),
    ({"filename": "ok"}, 'extra_context chunk must contain a "text" field with a string value'),
    ({"filename": 123}, 'extra_context chunk must contain a "text" field with a string value'),
    ({"filename": 123, "text": "abc"}, 'extra_context chunk\'s "filename" field must be a string'),
    ({"filename": 123, "text": 456}, 'extra_context chunk must contain a "text" field with a string value'),
]


@pytest.fixture(scope="module")
def backend():
    return EchoBackend(text="return a + b;\n    // done\n")


@pytest.fixture(scope="module")
def client(backend):
    app = create_app(backend, ServeConfig(max_prompt_tokens=50_000), HostConfig(max_body_bytes=200_000))
    with ThreadedServer(app) as url, httpx.Client(base_url=url, timeout=20) as c:
        yield c


def _events(body: str) -> list[str]:
    assert body.endswith("\n\n"), body[-40:]
    return body[:-2].split("\n\n")


# --- llama.cpp protocol ---------------------------------------------------------------------------------

def test_health_and_models(client):
    r = client.get("/health")
    assert r.status_code == 200 and r.text == '{"status":"ok"}'
    models = client.get("/v1/models").json()
    assert models["object"] == "list" and models["data"][0]["id"] == "seqdiff-fake"


def test_llama_vim_fim_request(client, backend):
    r = client.post("/infill", json=LLAMA_VIM_FIM)
    assert r.status_code == 200
    # what llama.vim's parser requires: an object, and "content":" with no space after the colon
    assert re.match(r"^\s*{", r.text)
    assert re.search(r'"content"\s*:"', r.text)
    body = r.json()
    assert set(body) == set(LLAMA_VIM_FIM["response_fields"])
    assert isinstance(body["content"], str)
    # n_indent 4: the line "    // done" keeps its indentation, nothing is cut; the prompt is not repeated
    assert body["content"] == "return a + b;\n    // done\n"
    assert all(isinstance(body[k], (int, float)) for k in body if k.startswith("timings/"))
    req = backend.batches[-1][0]
    assert req.prefix.endswith("int main(void) {\n    int n_threads = llama_")
    assert req.suffix == LLAMA_VIM_FIM["input_suffix"]
    assert req.extra[0].filename == "src/foo.c"
    assert req.time_budget_s == 0.25


def test_llama_vim_warmup_is_instant_and_empty(client, backend):
    before = len(backend.batches)
    r = client.post("/infill", json=LLAMA_VIM_WARMUP)
    assert r.status_code == 200 and r.text == "{}"
    assert len(backend.batches) == before  # n_predict 0 never reaches the model


def test_llama_vscode_n_cmpl_3_is_an_array(client):
    r = client.post("/infill", json=LLAMA_VSCODE_FIM)
    assert r.status_code == 200
    body = r.json()
    assert isinstance(body, list) and len(body) == 3
    assert [o["index"] for o in body] == [0, 1, 2]
    for o in body:
        assert isinstance(o["content"], str) and o["stop"] is True and o["stop_type"] in ("eos", "limit", "word")
        assert isinstance(o["seqdiff"]["syntax_valid"], bool)
    warm = client.post("/infill", json=LLAMA_VSCODE_WARMUP)
    assert warm.status_code == 200 and [o["content"] for o in warm.json()] == ["", "", ""]


def test_n_cmpl_above_limit_uses_llama_message(client):
    r = client.post("/infill", json={**LLAMA_VSCODE_FIM, "n_cmpl": 7})
    assert r.status_code == 400
    assert r.json() == {"error": {"code": 400, "type": "invalid_request_error",
                                  "message": "Field 'n_cmpl': Value must be between 1 <= value <= 4, but got 7"}}


@pytest.mark.parametrize("chunk,message", INVALID_EXTRA)
def test_invalid_input_extra(client, chunk, message):
    r = client.post("/infill", json={"input_prefix": "a", "input_suffix": "b", "input_extra": [chunk]})
    assert r.status_code == 400
    assert r.json() == {"error": {"code": 400, "message": message, "type": "invalid_request_error"}}


@pytest.mark.parametrize("payload,message", [
    ({"input_suffix": "b"}, '"input_prefix" is required'),
    ({"input_prefix": "a"}, '"input_suffix" is required'),
    ({"input_prefix": "a", "input_suffix": "b", "prompt": 5}, '"prompt" must be a string'),
    ({"input_prefix": "a", "input_suffix": "b", "input_extra": "x"},
     '"input_extra" must be an array of {"filename": string, "text": string}'),
])
def test_llama_required_fields(client, payload, message):
    r = client.post("/infill", json=payload)
    assert r.status_code == 400 and r.json()["error"]["message"] == message


def test_response_fields_flattening(client):
    base = {"input_prefix": "def f():\n", "input_suffix": "\n"}
    r = client.post("/infill", json={**base, "response_fields": ["content", "timings/prompt_n", "seqdiff/nfe",
                                                                 "no/such/path", "timings/nope"]})
    assert r.status_code == 200
    assert list(r.json()) == ["content", "timings/prompt_n", "seqdiff/nfe"]
    assert r.text.startswith('{"content":"')
    assert client.post("/infill", json={**base, "response_fields": [""]}).text == "{}"
    whole = client.post("/infill", json={**base, "response_fields": ["timings"]}).json()
    assert set(whole) == {"timings"} and "predicted_n" in whole["timings"]


def test_full_result_object_fields(client):
    body = client.post("/infill", json={"input_prefix": "x = ", "input_suffix": "\n", "seed": 3}).json()
    for key in ("index", "content", "tokens", "id_slot", "stop", "model", "tokens_predicted", "tokens_evaluated",
                "generation_settings", "prompt", "has_new_line", "truncated", "stop_type", "stopping_word",
                "tokens_cached", "timings"):
        assert key in body
    assert body["stop"] is True and body["has_new_line"] is True and body["truncated"] is False
    assert set(body["timings"]) == {"cache_n", "prompt_n", "prompt_ms", "prompt_per_token_ms", "prompt_per_second",
                                    "predicted_n", "predicted_ms", "predicted_per_token_ms", "predicted_per_second"}


def test_stop_word_and_n_indent(client):
    body = client.post("/infill", json={"input_prefix": "a", "input_suffix": "b", "stop": [";"]}).json()
    assert body["content"] == "return a + b" and body["stop_type"] == "word" and body["stopping_word"] == ";"
    body = client.post("/infill", json={"input_prefix": "a", "input_suffix": "b", "n_indent": 8}).json()
    assert body["content"] == "return a + b;\n    " and body["stop_type"] == "limit"


def test_llama_sse_framing(client):
    plain = client.post("/infill", json={"input_prefix": "a", "input_suffix": "b"}).json()
    r = client.post("/infill", json={"input_prefix": "a", "input_suffix": "b", "stream": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    assert all(e.startswith("data: ") and "\n" not in e for e in events)
    assert "[DONE]" not in r.text  # native endpoints never send it
    payloads = [json.loads(e[len("data: "):]) for e in events]
    assert [p["stop"] for p in payloads] == [False] * (len(payloads) - 1) + [True]
    assert "".join(p["content"] for p in payloads) == plain["content"]
    assert payloads[-1]["content"] == "" and payloads[-1]["stop_type"] == "eos"


def test_llama_sse_n_cmpl(client):
    r = client.post("/infill", json={"input_prefix": "a", "input_suffix": "b", "stream": True, "n_cmpl": 2})
    payloads = [json.loads(e[len("data: "):]) for e in _events(r.text)]
    finals = [p for p in payloads if p["stop"]]
    assert sorted(p["index"] for p in finals) == [0, 1]


def test_completion_endpoint_with_continue_template(client, backend):
    # Continue's llama.cpp provider: StarCoder template (its fallback) in prompt, stream true, its stop list
    prompt = "<fim_prefix>def add(a, b):\n    <fim_suffix>\n\nprint(add(1, 2))\n<fim_middle>"
    for path in ("/completion", "/completions"):
        r = client.post(path, json={"prompt": prompt, "stream": True, "n_predict": 64, "temperature": 0.01,
                                    "stop": ["<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>",
                                             "<|endoftext|>", "</fim_middle>", "</code>"],
                                    "top_k": 40, "top_p": 0.95, "min_p": 0.05, "mirostat": 0})
        assert r.status_code == 200
        text = "".join(json.loads(e[6:])["content"] for e in _events(r.text))
        assert text == "return a + b;\n    // done\n"
        req = backend.batches[-1][0]
        assert (req.prefix, req.suffix) == ("def add(a, b):\n    ", "\n\nprint(add(1, 2))\n")
    r = client.post("/completion", json={"prompt": "plain text"})
    assert r.status_code == 200 and backend.batches[-1][0].suffix == ""
    assert client.post("/completion", json={}).json()["error"]["message"] == '"prompt" must be provided'


# --- OpenAI protocol ------------------------------------------------------------------------------------

def test_openai_suffix(client, backend):
    r = client.post("/v1/completions", json={"model": "x", "prompt": "def f(a, b):\n    ", "suffix": "\n\nf(1, 2)\n",
                                             "max_tokens": 64, "n": 2, "temperature": 0.2, "top_p": 0.9,
                                             "seed": 1, "stop": "// done", "presence_penalty": 0})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "text_completion" and body["id"].startswith("cmpl-")
    assert [c["index"] for c in body["choices"]] == [0, 1]
    assert body["choices"][0]["text"] == "return a + b;\n    " and body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    req = backend.batches[-1][0]
    assert (req.prefix, req.suffix, req.n, req.seed) == ("def f(a, b):\n    ", "\n\nf(1, 2)\n", 2, 1)


def test_openai_length_finish(client):
    body = client.post("/v1/completions", json={"prompt": "a", "suffix": "b", "max_tokens": 3}).json()
    assert body["choices"][0]["text"] == "ret" and body["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize("prompt", [
    "<fim_prefix>PRE<fim_suffix>SUF<fim_middle>",
    "<|fim_prefix|>PRE<|fim_suffix|>SUF<|fim_middle|>",
    "<PRE> PRE <SUF>SUF <MID>",
    "<｜fim▁begin｜>PRE<｜fim▁hole｜>SUF<｜fim▁end｜>",
    "[SUFFIX]SUF[PREFIX]PRE",
])
def test_openai_sentinel_families(client, backend, prompt):
    r = client.post("/v1/completions", json={"prompt": prompt, "max_tokens": 16})
    assert r.status_code == 200
    req = backend.batches[-1][0]
    assert (req.prefix, req.suffix) == ("PRE", "SUF")


def test_llama_vscode_openai_mode(client, backend):
    prompt = "<|fim_prefix|>def f():\n    ret<|fim_suffix|>\n<|fim_middle|>"
    r = client.post("/v1/completions", json={"model": "qwen", "prompt": prompt, "max_tokens": 128,
                                             "temperature": 0.1})
    assert r.status_code == 200 and isinstance(r.json()["choices"][0]["text"], str)
    assert backend.batches[-1][0].prefix == "def f():\n    ret"


def test_openai_sse_framing(client):
    # Tabby's openai/completion backend: parses every data: payload as JSON, stops at the first finish_reason
    r = client.post("/v1/completions", json={"model": "m", "prompt": "def f(", "suffix": ")\n", "max_tokens": 32,
                                             "temperature": 0.1, "stream": True, "presence_penalty": 0.0})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert chunks and all(c["object"] == "text_completion" and len(c["choices"]) == 1 for c in chunks)
    assert all(isinstance(c["choices"][0]["text"], str) for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert "".join(c["choices"][0]["text"] for c in chunks) == "return a + b;\n    // done\n"
    r = client.post("/v1/completions", json={"prompt": "a", "stream": True,
                                             "stream_options": {"include_usage": True}})
    chunks = [json.loads(e[6:]) for e in _events(r.text)[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert chunks[0]["choices"][0]["finish_reason"] == "stop"


def test_openai_errors_use_openai_envelope(client):
    r = client.post("/v1/completions", json={"prompt": "a", "n": 9})
    assert r.status_code == 400
    assert r.json() == {"error": {"message": "Field 'n': Value must be between 1 <= value <= 4, but got 9",
                                  "type": "invalid_request_error", "param": "n", "code": None}}
    r = client.post("/v1/completions", json={"max_tokens": 5})
    assert r.status_code == 400 and r.json()["error"]["param"] == "prompt"
    r = client.post("/v1/completions", json={"prompt": "a", "temperature": 3})
    assert r.status_code == 400 and r.json()["error"]["param"] == "temperature"


# --- bad input never gives a 500 ------------------------------------------------------------------------

BAD_BODIES = [
    b"", b"{", b"[1,2]", b'"str"', b"null", b"\xff\xfe\x00", b'{"input_prefix": NaN}', b"[" * 100_000,
    b'{"n_predict": 1' + b"0" * 5000 + b"}",
]
BAD_FIELDS = [
    {"n_predict": "12"}, {"n_predict": 10 ** 30}, {"n_predict": -2}, {"n_predict": 1.5}, {"n_predict": True},
    {"n_cmpl": 0}, {"n_cmpl": "3"}, {"n": 100}, {"temperature": "hot"}, {"temperature": 1e308},
    {"top_p": 2}, {"top_k": []}, {"seed": 10 ** 30}, {"seed": "x"}, {"stop": 5}, {"stop": [1]},
    {"stop": ["x"] * 1000}, {"stream": "yes"}, {"response_fields": "content"}, {"response_fields": [1]},
    {"n_indent": {}}, {"t_max_predict_ms": "soon"}, {"input_prefix": 5}, {"input_suffix": ["a"]},
    {"input_extra": [["a"]]}, {"input_extra": {"text": "a"}}, {"prompt": {"a": 1}},
]


@pytest.mark.parametrize("path", ["/infill", "/completion", "/v1/completions"])
@pytest.mark.parametrize("raw", BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_malformed_bodies_are_400(client, path, raw):
    r = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert isinstance(r.json()["error"]["message"], str)


@pytest.mark.parametrize("path", ["/infill", "/completion", "/v1/completions"])
@pytest.mark.parametrize("fields", BAD_FIELDS, ids=[json.dumps(f)[:40] for f in BAD_FIELDS])
def test_wrong_types_and_huge_values_are_400(client, path, fields):
    payload = {"input_prefix": "a", "input_suffix": "b", "prompt": "p", **fields}
    if path == "/v1/completions":
        payload = {"prompt": "p", **{k: v for k, v in fields.items() if k not in ("input_prefix", "input_suffix",
                                                                                  "input_extra", "n_indent")}}
        payload = {("max_tokens" if k == "n_predict" else k): v for k, v in payload.items()}
        payload = {("n" if k == "n_cmpl" else k): v for k, v in payload.items()}
    r = client.post(path, json=payload)
    if path != "/infill" and set(fields) <= {"input_prefix", "input_suffix", "input_extra", "n_indent",
                                             "response_fields", "t_max_predict_ms"}:
        assert r.status_code in (200, 400)  # fields that endpoint ignores or reads
    else:
        assert r.status_code == 400, (payload, r.text)
        message = r.json()["error"]["message"]
        assert message and "Traceback" not in message


def test_body_and_context_limits(client):
    r = client.post("/infill", json={"input_prefix": "x" * 300_000, "input_suffix": ""})
    assert r.status_code == 413 and "limit" in r.json()["error"]["message"]
    # over the model window but under the hard limit: trimmed like llama.cpp, flagged truncated
    lines = "".join(f"line {i}\n" for i in range(12_000))  # ~100k chars < 200 kB body
    r = client.post("/infill", json={"input_prefix": lines[:60_000], "input_suffix": "", "response_fields": ["truncated"]})
    assert r.status_code == 400 and "more than the limit of 50000" in r.json()["error"]["message"]
    r = client.post("/infill", json={"input_prefix": lines[:20_000], "input_suffix": lines[:1000],
                                     "response_fields": ["truncated", "tokens_evaluated"]})
    assert r.status_code == 200 and r.json()["truncated"] is True and r.json()["tokens_evaluated"] <= 8192


def test_unknown_route_and_method(client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
    r = client.get("/infill")
    assert r.status_code == 405 and "error" in r.json()
    r = client.get("/v1/nope")
    assert r.status_code == 404 and r.json()["error"]["param"] is None
