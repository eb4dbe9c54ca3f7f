"""The server on the real code-domain backend (``CodeInfiller`` on a tiny random-weights model): the
adapter's request mapping, the syntax flag in the response, n_cmpl, and cancellation."""

from __future__ import annotations

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
pytest.importorskip("seqdiff_code.infill")
torch = pytest.importorskip("torch")

from seqdiff_code.serve import ServeConfig, create_app  # noqa: E402
from seqdiff_code.serve.backend import CodeInfillerBackend, InfillRequest, StopSignal  # noqa: E402
from seqdiff.serve.server import ThreadedServer  # noqa: E402


def tiny_code_model(directory) -> str:
    from seqdiff_code.tokenizer import CodeTokenizer

    from seqdiff.checkpoint import Pretrained, save_pretrained
    from seqdiff.model import Denoiser, DenoiserConfig

    tok = CodeTokenizer.bundled()
    torch.manual_seed(0)
    model = Denoiser(DenoiserConfig(vocab_size=tok.vocab_size, pad_id=tok.pad_id, mask_id=tok.mask_id, d_model=32,
                                    n_layers=1, n_heads=2, token_dropout=False))
    return str(save_pretrained(Pretrained(model=model, tokenizer=tok, domain="code"), directory))


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 1-layer model: threads only add overhead on a shared CPU
    yield CodeInfillerBackend(tiny_code_model(tmp_path_factory.mktemp("code-model")), candidates=1)
    torch.set_num_threads(threads)


def test_code_backend_over_http(backend):
    with ThreadedServer(create_app(backend, ServeConfig())) as url, httpx.Client(base_url=url, timeout=60) as c:
        r = c.post("/infill", json={"input_prefix": "def add(a, b):\n", "input_suffix": "\n", "prompt": "    return ",
                                    "n_predict": 4, "n_cmpl": 2, "seed": 1})
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body) == 2 and all(isinstance(o["content"], str) for o in body)
        assert all(isinstance(o["seqdiff"]["syntax_valid"], bool) and o["seqdiff"]["nfe"] > 0 for o in body)
        assert body[0]["model"] == backend.model_name
        # same seed, temperature 0 (absent): same answer
        again = c.post("/infill", json={"input_prefix": "def add(a, b):\n", "input_suffix": "\n",
                                        "prompt": "    return ", "n_predict": 4, "n_cmpl": 2, "seed": 1}).json()
        assert [o["content"] for o in again] == [o["content"] for o in body]
        # an empty buffer (llama.vim with nothing around the cursor) is answered, not an error
        r = c.post("/infill", json={"input_prefix": "", "input_suffix": "", "n_predict": 4})
        assert r.status_code == 200 and r.json()["content"] == ""
        r = c.post("/v1/completions", json={"prompt": "<fim_prefix>x = <fim_suffix>\n<fim_middle>", "max_tokens": 4})
        assert r.status_code == 200 and isinstance(r.json()["choices"][0]["text"], str)


def test_code_backend_stops_when_asked(backend):
    import threading

    flag = threading.Event()
    flag.set()
    out = backend.complete([InfillRequest(prefix="x = ", suffix="\n", max_tokens=32)], StopSignal([flag]))
    assert out[0][0].finish_reason == "cancelled" and out[0][0].text == ""


def test_code_backend_check_syntax(backend):
    assert backend.check_syntax("def f():\n    return ", "1", "\n") is True
    assert backend.check_syntax("def f():\n    return ", "(", "\n") is False


def test_time_budget_and_indent_reach_the_infiller(backend):
    """llama.cpp's t_max_predict_ms and n_indent flow to the infiller's request; a budget that ran out
    answers truncated."""
    import types

    from seqdiff_code.serve.backend import CodeInfillerBackend

    class Recorder:
        tokenizer = backend.tokenizer

        def __init__(self):
            self.requests = []

        def infill_many(self, requests, should_stop=None):
            self.requests += requests
            return [types.SimpleNamespace(text="1", valid=True, nfe=1, wall_s=0.0, truncated=True)
                    for _ in requests]

    recorder = Recorder()
    with ThreadedServer(create_app(CodeInfillerBackend(infiller=recorder))) as url:
        r = httpx.post(url + "/infill", json={"input_prefix": "def f():\n", "input_suffix": "\n", "n_predict": 4,
                                              "t_max_predict_ms": 250, "n_indent": 4}, timeout=30)
    assert r.status_code == 200, r.text
    assert [(q.time_budget_s, q.n_indent) for q in recorder.requests] == [(0.25, 4)]
    assert r.json()["truncated"] is True
