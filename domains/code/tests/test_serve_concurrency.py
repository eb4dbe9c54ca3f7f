"""Batching, cancellation on disconnect, the bounded queue, readiness while loading, auth, and the CLI guard,
against a real uvicorn server on 127.0.0.1 with the fake backend. No timing assertions: the tests wait for
events (with generous deadlines) and check what the backend observed."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from seqdiff.serve.app import HostConfig  # noqa: E402
from seqdiff_code.serve import EchoBackend, create_app  # noqa: E402
from seqdiff.serve.server import ThreadedServer  # noqa: E402

PAYLOAD = {"input_prefix": "def f():\n", "input_suffix": "\n", "n_predict": 16}


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


async def _until_queued(client: httpx.AsyncClient, n: int, timeout: float = 10.0) -> None:
    """Poll ``/stats`` until ``n`` requests wait in the queue; fail (never hang) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (await client.get("/stats")).json().get("queued", 0) < n:
        if time.monotonic() > deadline:
            pytest.fail(f"{n} requests never queued within {timeout} s")
        await asyncio.sleep(0.01)


async def _burst(url: str, n: int, payload: dict = PAYLOAD, path: str = "/infill") -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        return await asyncio.gather(*[c.post(path, json=payload) for _ in range(n)])


class GatedBackend(EchoBackend):
    """Blocks its first batch until released, so requests pile up behind it deterministically."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.gate = threading.Event()
        self.entered = threading.Event()

    def complete(self, batch, should_stop):
        self.entered.set()
        self.gate.wait(10)
        return super().complete(batch, should_stop)


def test_concurrent_requests_share_backend_calls():
    backend = GatedBackend()
    with ThreadedServer(create_app(backend, host=HostConfig(max_batch=16))) as url:
        async def scenario():
            async with httpx.AsyncClient(base_url=url, timeout=30) as c:
                first = asyncio.create_task(c.post("/infill", json=PAYLOAD))
                await asyncio.to_thread(backend.entered.wait, 10)
                rest = [asyncio.create_task(c.post("/infill", json=PAYLOAD)) for _ in range(8)]
                await _until_queued(c, 8)  # all eight queued behind the running batch
                backend.gate.set()
                return await asyncio.gather(first, *rest)

        responses = asyncio.run(scenario())
    assert all(r.status_code == 200 for r in responses)
    sizes = [len(b) for b in backend.batches]
    assert sizes == [1, 8]  # the eight waiting requests went through the model as one batch


def test_max_batch_1_never_groups():
    backend = GatedBackend()
    with ThreadedServer(create_app(backend, host=HostConfig(max_batch=1))) as url:
        backend.gate.set()
        responses = asyncio.run(_burst(url, 6))
    assert all(r.status_code == 200 for r in responses)
    assert [len(b) for b in backend.batches] == [1] * 6


def test_n_counts_as_rows_in_a_batch():
    backend = GatedBackend()
    with ThreadedServer(create_app(backend, host=HostConfig(max_batch=4))) as url:
        async def scenario():
            async with httpx.AsyncClient(base_url=url, timeout=30) as c:
                first = asyncio.create_task(c.post("/infill", json=PAYLOAD))
                await asyncio.to_thread(backend.entered.wait, 10)
                rest = [asyncio.create_task(c.post("/infill", json={**PAYLOAD, "n_cmpl": 3})) for _ in range(3)]
                await _until_queued(c, 3)
                backend.gate.set()
                return await asyncio.gather(first, *rest)

        responses = asyncio.run(scenario())
    assert all(r.status_code == 200 for r in responses)
    assert [sum(r.n for r in b) for b in backend.batches] == [1, 3, 3, 3]  # 3+3 > max_batch 4


def test_queue_full_is_503_in_each_envelope():
    backend = GatedBackend()
    with ThreadedServer(create_app(backend, host=HostConfig(max_batch=1, max_queue=2))) as url:
        async def scenario():
            async with httpx.AsyncClient(base_url=url, timeout=30) as c:
                first = asyncio.create_task(c.post("/infill", json=PAYLOAD))
                await asyncio.to_thread(backend.entered.wait, 10)
                queued = [asyncio.create_task(c.post("/infill", json=PAYLOAD)) for _ in range(2)]
                await _until_queued(c, 2)
                busy = await c.post("/infill", json=PAYLOAD)
                busy_oai = await c.post("/v1/completions", json={"prompt": "x", "max_tokens": 4})
                backend.gate.set()
                return busy, busy_oai, await asyncio.gather(first, *queued)

        busy, busy_oai, served = asyncio.run(scenario())
    assert busy.status_code == 503
    assert busy.json()["error"]["type"] == "unavailable_error" and "busy" in busy.json()["error"]["message"]
    assert busy_oai.status_code == 503 and busy_oai.json()["error"]["code"] == "overloaded"
    assert [r.status_code for r in served] == [200, 200, 200]


@pytest.mark.parametrize("stream", [False, True])
def test_disconnect_stops_sampling(stream):
    backend = EchoBackend(steps=2000, step_s=0.005)  # ~10 s if nobody stops it
    with ThreadedServer(create_app(backend)) as url:
        with pytest.raises(httpx.ReadTimeout):
            with httpx.Client(base_url=url, timeout=httpx.Timeout(5.0, read=0.5)) as c:
                if stream:
                    with c.stream("POST", "/infill", json={**PAYLOAD, "stream": True}) as r:
                        for _ in r.iter_bytes():
                            pass
                else:
                    c.post("/infill", json=PAYLOAD)
        # the client is gone: the backend must see should_stop() between steps and give up early
        assert _wait_for(lambda: backend.stopped_early == 1, timeout=8)
        assert backend.steps_run < 2000
        # and the server keeps serving
        fast = EchoBackend()
        backend.steps, backend.step_s = fast.steps, 0.0
        assert httpx.post(url + "/infill", json=PAYLOAD, timeout=10).status_code == 200


def test_openai_stream_disconnect_stops_sampling():
    backend = EchoBackend(steps=2000, step_s=0.005)
    with ThreadedServer(create_app(backend)) as url:
        with pytest.raises(httpx.ReadTimeout):
            with httpx.Client(base_url=url, timeout=httpx.Timeout(5.0, read=0.5)) as c:
                with c.stream("POST", "/v1/completions", json={"prompt": "x", "stream": True}) as r:
                    for _ in r.iter_bytes():
                        pass
        assert _wait_for(lambda: backend.stopped_early == 1, timeout=8)


def test_health_is_503_while_loading_then_ok():
    release = threading.Event()

    def factory():
        release.wait(10)
        return EchoBackend()

    app = create_app(factory)
    with ThreadedServer(app, wait_ready=False) as url:
        r = httpx.get(url + "/health")
        assert r.status_code == 503
        assert r.json() == {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
        assert httpx.post(url + "/infill", json=PAYLOAD).status_code == 503
        release.set()
        assert _wait_for(lambda: httpx.get(url + "/health").status_code == 200)
        assert httpx.get(url + "/health").json() == {"status": "ok"}


def test_failed_load_reports_on_health():
    def factory():
        raise RuntimeError("no weights here")

    with ThreadedServer(create_app(factory)) as url:
        r = httpx.get(url + "/health")
        assert r.status_code == 503 and "no weights here" in r.json()["error"]["message"]


def test_api_key():
    with ThreadedServer(create_app(EchoBackend(), host=HostConfig(api_key="s3cret"))) as url:
        assert httpx.get(url + "/health").status_code == 200  # health stays open, as in llama.cpp
        r = httpx.post(url + "/infill", json=PAYLOAD)
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        r = httpx.post(url + "/infill", json=PAYLOAD, headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200


def test_backend_failure_is_500_and_server_survives():
    class Broken(EchoBackend):
        def complete(self, batch, should_stop):
            if batch[0].prefix == "boom":
                raise RuntimeError("kaput")
            return super().complete(batch, should_stop)

    with ThreadedServer(create_app(Broken())) as url:
        r = httpx.post(url + "/infill", json={"input_prefix": "boom", "input_suffix": ""})
        assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
        r = httpx.post(url + "/infill", json={"input_prefix": "boom", "input_suffix": "", "stream": True})
        assert r.text.startswith("error: {") and "kaput" in r.text
        assert httpx.post(url + "/infill", json=PAYLOAD).status_code == 200


def test_cli_refuses_remote_host_without_flag(capsys):
    from seqdiff.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["serve", "--host", "0.0.0.0", "--backend", "fake"])
    assert exc.value.code == 2
    assert "--allow-remote" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--model", "/no/such/model"])
    assert exc.value.code == 2
