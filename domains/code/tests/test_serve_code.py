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


def test_time_budget_reaches_an_infiller_that_takes_it(monkeypatch, backend):
    """llama.cpp's t_max_predict_ms flows to the infiller's request once that request has a time budget."""
    import dataclasses
    import types

    import seqdiff_code.infill as infill_module
    from seqdiff_code.serve.backend import CodeInfillerBackend

    @dataclasses.dataclass(frozen=True)
    class BudgetedRequest:  # what the adapter passes, plus the budget
        prefix: str
        suffix: str
        max_tokens: int
        candidates: int
        seed: int
        temperature: float
        time_budget_s: float | None = None

    class Recorder:
        tokenizer = backend.tokenizer

        def __init__(self):
            self.requests = []

        def infill_many(self, requests, should_stop=None):
            self.requests += requests
            return [types.SimpleNamespace(text="1", valid=True, nfe=1, wall_s=0.0) for _ in requests]

    monkeypatch.setattr(infill_module, "InfillRequest", BudgetedRequest)
    recorder = Recorder()
    adapter = CodeInfillerBackend(infiller=recorder)
    with ThreadedServer(create_app(adapter)) as url:
        r = httpx.post(url + "/infill", json={"input_prefix": "x = ", "input_suffix": "\n", "n_predict": 4,
                                              "t_max_predict_ms": 250}, timeout=30)
    assert r.status_code == 200, r.text
    assert [q.time_budget_s for q in recorder.requests] == [0.25]
