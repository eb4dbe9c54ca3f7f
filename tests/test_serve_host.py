"""The core HTTP host with no real domain: the toy plugin's contribution mounted through ``Domain.serve``,
readiness, load failures, error envelopes by path, the API key (``/stats`` behind it), IPv6 loopback, and
the generic batcher."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")
from starlette.routing import Route  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from seqdiff.plugins import load_domain  # noqa: E402
from seqdiff.serve import HttpError, ServeContribution  # noqa: E402
from seqdiff.serve.app import HostConfig, create_app, read_json  # noqa: E402
from seqdiff.serve.batching import Batcher  # noqa: E402
from seqdiff.serve.body import json_response  # noqa: E402
from seqdiff.serve.command import describe  # noqa: E402
from seqdiff.serve.server import ThreadedServer, bind_address  # noqa: E402


def _contribution(load, name="thing", path="/thing", error_bodies=()) -> ServeContribution:
    async def refuse(request):
        raise HttpError("no such thing", param="what")

    return ServeContribution(name=name, description="a test contribution", load=load,
                             routes=(Route(path, refuse, methods=["POST"]),), error_bodies=error_bodies)


def test_toy_domain_contributes_a_route_served_by_the_host():
    toy = load_domain("toy").serve()
    with TestClient(create_app([toy])) as client:
        assert client.get("/toy/hello").json() == {"greeting": "hello from toy"}
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/stats").json()["batches"] == 0
    assert describe([toy]) == "  toy: a toy greeting\n    GET /toy/hello"


def test_health_waits_for_every_contribution_then_reports_a_failure():
    release = threading.Event()
    failures: list[str] = []

    def slow(options):
        release.wait(10)
        raise RuntimeError("no weights here")

    app = create_app([load_domain("toy").serve(), _contribution(slow)])
    app.state.seqdiff.on_load_failure = failures.append
    with ThreadedServer(app, wait_ready=False) as url:
        r = httpx.get(url + "/health")
        assert r.status_code == 503 and r.json()["error"]["message"] == "Loading model"
        release.set()
        deadline = time.monotonic() + 10
        while not app.state.seqdiff.settled and time.monotonic() < deadline:
            time.sleep(0.01)
        r = httpx.get(url + "/health")
        assert r.status_code == 503 and "thing: RuntimeError: no weights here" in r.json()["error"]["message"]
        assert httpx.get(url + "/toy/hello").status_code == 200  # the contribution that loaded still serves
    assert failures == ["thing: RuntimeError: no weights here"]


def test_error_envelope_by_longest_path_prefix():
    def custom(status, message, param):
        return {"problem": message, "field": param}

    app = create_app([_contribution(lambda o: None, error_bodies=(("/", custom),)),
                      _contribution(lambda o: None, name="inner", path="/v1/inner/x",
                                    error_bodies=(("/v1/inner/", lambda s, m, p: {"inner": m}),))])
    with TestClient(app) as client:
        assert client.post("/thing").json() == {"problem": "no such thing", "field": "what"}
        assert client.post("/v1/inner/x").json() == {"inner": "no such thing"}
        assert client.get("/nope").json() == {"problem": "File Not Found: GET /nope", "field": None}
    with TestClient(create_app([])) as client:  # nobody claims the path: llama.cpp's envelope
        assert client.get("/nope").json() == {"error": {"code": 404, "message": "File Not Found: GET /nope",
                                                        "type": "not_found_error"}}


def test_api_key_guards_everything_but_health():
    app = create_app([load_domain("toy").serve()], HostConfig(api_key="s3cret"))
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        for path in ("/stats", "/toy/hello"):
            r = client.get(path)
            assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
            assert client.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 200
            assert client.get(path, headers={"X-Api-Key": "s3cret"}).status_code == 200
            assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_two_contributions_cannot_claim_one_path():
    with pytest.raises(ValueError, match="/thing is served by both a and b"):
        create_app([_contribution(lambda o: None, name="a"), _contribution(lambda o: None, name="b")])
    with pytest.raises(ValueError, match="the host"):
        create_app([_contribution(lambda o: None, path="/health")])


def test_default_options_come_from_the_added_arguments():
    def add(group):
        group.add_argument("--toy-size", type=int, default=3)

    seen = []
    c = ServeContribution(name="t", description="d", routes=(), load=lambda o: seen.append(o.args.toy_size),
                          add_arguments=add)
    with TestClient(create_app([c])) as client:
        assert client.get("/health").status_code == 200
    assert seen == [3]


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_ipv6_loopback_binds():
    assert bind_address("[::1]") == "::1"
    with ThreadedServer(create_app([load_domain("toy").serve()]), host="[::1]") as url:
        assert url.startswith("http://[::1]:")
        assert httpx.get(url + "/toy/hello").json() == {"greeting": "hello from toy"}


def test_batcher_is_generic_and_counts_rows():
    calls: list[list] = []
    gate = threading.Event()

    def run(requests, should_stop):
        gate.wait(10)
        calls.append(list(requests))
        return [r.upper() for r in requests]

    async def scenario():
        b = Batcher(run, max_batch=3)
        b.start()
        first = b.enqueue("a", threading.Event(), rows=1)
        while b.running_rows == 0:  # the first batch is running (blocked on the gate)
            await asyncio.sleep(0)
        rest = [b.enqueue(x, threading.Event(), rows=2) for x in "bcd"]
        gate.set()
        out = await asyncio.gather(first, *rest)
        await b.stop()
        return out

    assert asyncio.run(scenario()) == ["A", "B", "C", "D"]
    assert calls == [["a"], ["b"], ["c"], ["d"]]  # 2 + 2 rows > max_batch 3: one each


async def _echo(request):
    return json_response(200, await read_json(request))


ECHO = ServeContribution(name="e", description="d", routes=(Route("/e", _echo, methods=["POST"]),),
                         load=lambda o: None)


def test_body_limit_is_413():
    with TestClient(create_app([ECHO], HostConfig(max_body_bytes=10))) as client:
        assert client.post("/e", json={"a": 1}).json() == {"a": 1}
        assert client.post("/e", json={"a": "x" * 20}).status_code == 413
        assert client.post("/e", content=b"[1]").status_code == 400


def test_lone_surrogate_is_400_not_500():
    with TestClient(create_app([ECHO])) as client:
        r = client.post("/e", content=b'{"input_prefix": "s = \'\\ud800\'\\n"}')
        assert r.status_code == 400 and "surrogate" in r.json()["error"]["message"]
        assert client.post("/e", content='{"a": "\\ud83d\\ude00"}'.encode()).json() == {"a": "\U0001f600"}


def test_a_client_gone_mid_body_is_one_quiet_line(caplog):
    """A client that disconnects before its body arrives is logged once at INFO, with no traceback."""
    async def echo(request):
        return json_response(200, await read_json(request))

    app = create_app([ServeContribution(name="echo", description="echoes JSON", load=lambda options: None,
                                        routes=(Route("/echo", echo, methods=["POST"]),))])
    sent = []

    async def scenario():
        messages = iter([{"type": "http.request", "body": b'{"a": ', "more_body": True},
                         {"type": "http.disconnect"}])

        async def receive():
            return next(messages)

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/echo", "raw_path": b"/echo", "query_string": b"",
                 "headers": [(b"content-type", b"application/json")], "http_version": "1.1", "scheme": "http",
                 "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1), "root_path": "", "app": app}
        await app(scope, receive, send)

    with caplog.at_level("INFO", logger="seqdiff.serve"):
        asyncio.run(scenario())
    gone = [r for r in caplog.records if "disconnected" in r.getMessage()]
    assert len(gone) == 1 and gone[0].levelname == "INFO" and gone[0].exc_info is None
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
