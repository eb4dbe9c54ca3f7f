"""Issue #14, core commands and the HTTP host: every bad input is exit status 2 with one line naming the bad
value (no traceback, nothing written), or a 4xx, never a 500; a malicious model config fails before a tensor
is allocated; ``seqdiff serve`` with a model folder it cannot use exits 2.

The issue's cases and where each is tested (P = domains/protein/tests, C = domains/code/tests):

====  ===============================================================  ============================================
case  what                                                             test
====  ===============================================================  ============================================
1     --motif/--length 1-100000, 10-1000/seq:../10-1000, -n 1e8        P/test_bad_input_protein::test_sizes_*,
                                                                       P/test_motif::test_lengths_are_bounded_*
2     --resume -n 10 on 50 designs                                     P/test_bad_input_protein::test_resume_*
3     n_heads 0, negative d_model/ffn_dim, 65536 x 1000, vocab 1e12,   here: test_malicious_model_config_*,
      a JSON list (both domains), code tokenizer.json "tokens": 5,     P/.., C/test_bad_input_code::test_bad_model_*
      serve --model <bad folder> exits 2                               here, P/.., C/..::test_serve_bad_model_*
4     lone surrogate on /infill (+stream), /v1/completions             C/test_bad_input_code::test_surrogate_*,
                                                                       here: test_host_text_and_shapes
5     train: folder, bad YAML (file, --set), nosuchdomain, "ten",      tests/test_train_config (every sub-case),
      "big", 30/7, missing data path, --set domain.x=1, list, non-UTF8  here: test_train_bad_numbers
6     nan/inf temperature, --threads -1/0, --device tpu9, --max-run    P/test_bad_input_protein::test_bad_numbers,
      -1, --max-residue-fraction -0.5/nan, --repeat-rounds -2/nan      P/..::test_the_issues_values, C/..::test_bad_*
                                                                       and test_named_values, here: test_generate_*,
                                                                       test_bench_*, test_core_commands_refuse_*
7     unwritable --out (/proc/x, <file>/sub), corrupt resume files     P/test_design_config::test_cli_names_* and
      (scores.csv length=abc, run.json "index": "zz")                  test_resume_refuses_corrupt_files (abc),
                                                                       P/test_bad_input_protein::test_corrupt_* (zz)
8     disconnect logs, tokenisation off the loop, /stats key, [::1],   tests/test_serve_host (disconnect, key, ::1),
      Ctrl-C message, --pdb on a folder / text file                    C/..::test_tokenisation_off_the_loop,
                                                                       P/..::test_ctrl_c_*, P/test_motif::test_structure_*
====  ===============================================================  ============================================
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqdiff.checkpoint import from_pretrained
from seqdiff.testing import TOK, run_cli, write_model_folder

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# non-finite, negative, zero and huge numbers, as a user might type them
BAD_NUMBERS = st.sampled_from(["nan", "inf", "-inf", "-1", "0", "-0.5", "1e308", str(10**30), "100000000"]) | \
    st.integers(max_value=-1).map(str) | st.integers(min_value=10**9).map(str)


def assert_usage_error(argv: list[str], needle: str = "") -> str:
    """Exit 2, one ``error:`` line on stderr naming ``needle``, no traceback."""
    code, _, err = run_cli(argv)
    assert code == 2, (argv, code, err)
    assert "Traceback" not in err and "error:" in err.strip().splitlines()[-1], err
    assert needle in err, (needle, err)
    return err


# ---------------------------------------------------------------- 3: model folders

MALICIOUS = [  # (config.json "model" changes, what the error names)
    ({"n_heads": 0}, "n_heads=0"),
    ({"d_model": -32}, "d_model=-32"),
    ({"ffn_dim": -4}, "ffn_dim=-4"),
    ({"d_model": 65536, "n_layers": 1000}, "parameters"),
    ({"vocab_size": 1e12}, "vocab_size=1000000000000.0"),
    ({"vocab_size": 10**12}, "parameters"),
    ({"n_layers": "many"}, "n_layers='many'"),
]


def _folder_with(tmp_path: Path, changes: dict | None = None, raw: str | None = None) -> Path:
    folder = write_model_folder(tmp_path / "m", TOK, domain=None)
    config = json.loads((folder / "config.json").read_text())
    config["model"].update(changes or {})
    (folder / "config.json").write_text(raw if raw is not None else json.dumps(config))
    return folder


@pytest.mark.parametrize("changes, needle", MALICIOUS, ids=[n for _, n in MALICIOUS])
def test_malicious_model_config_fails_before_allocation(tmp_path, monkeypatch, changes, needle):
    folder = _folder_with(tmp_path, changes)

    def no_tensors(*args, **kwargs):
        raise AssertionError("weights were allocated for a config that should have been refused")

    monkeypatch.setattr("seqdiff.checkpoint.load_weights", no_tensors)
    with pytest.raises(ValueError, match=needle.replace("(", r"\(")):
        from_pretrained(folder)
    assert_usage_error(["generate", "--model", str(folder), "--prompt", "ab"], needle)


@pytest.mark.parametrize("raw", ["[1, 2]", "{", "null", '"text"'])
def test_config_json_that_is_not_an_object(tmp_path, raw):
    folder = _folder_with(tmp_path, raw=raw)
    with pytest.raises(ValueError, match="config.json"):
        from_pretrained(folder)
    assert_usage_error(["generate", "--model", str(folder), "--prompt", "ab"], "config.json")


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json"])
def test_folder_files_that_are_devices_or_huge(tmp_path, name):
    folder = _folder_with(tmp_path)
    (folder / name).unlink()
    (folder / name).symlink_to("/dev/zero")  # would be read forever
    with pytest.raises(ValueError, match="not a regular file"):
        from_pretrained(folder)
    (folder / name).unlink()
    with open(folder / name, "wb") as f:
        f.truncate(65 << 20)  # sparse: 65 MiB of NUL bytes, over both limits, written in no time
    with pytest.raises(ValueError, match="not a regular file of at most"):
        from_pretrained(folder)


@pytest.mark.parametrize("name", ["tokenizer.json", "tokenizer_config.json"])
def test_hugging_face_folder_files_that_are_devices(tmp_path, name):
    """The same bound on a Hugging Face folder's tokenizer files (they load through seqdiff.families)."""
    pytest.importorskip("transformers")
    from seqdiff.families.testing import make_llada

    folder, _ = make_llada(tmp_path / "llada")
    (folder / name).unlink()
    (folder / name).symlink_to("/dev/zero")
    with pytest.raises(ValueError, match="not a regular file"):
        from_pretrained(folder)


def test_serve_with_an_unusable_model_folder_exits_2(tmp_path):
    """A real ``seqdiff serve`` process: it exits 2 at once instead of answering 503 forever."""
    folder = _folder_with(tmp_path, raw="[1, 2]")
    proc = subprocess.run([sys.executable, "-m", "seqdiff", "serve", "--port", "0", "--model", str(folder)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "config.json" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


# ---------------------------------------------------------------- 5, 6: numbers on core commands

@pytest.fixture(scope="module")
def char_model(tmp_path_factory) -> Path:
    return write_model_folder(tmp_path_factory.mktemp("gen") / "char", TOK, domain=None)


GENERATE_FLAGS = ["--max-new-tokens", "--steps", "--block-length", "--threshold", "--temperature", "--threads"]


@FAST
@given(flag=st.sampled_from(GENERATE_FLAGS), value=BAD_NUMBERS)
def test_generate_bad_numbers(char_model, flag, value):
    if flag == "--threshold" and value == "1e308" or flag in ("--steps", "--block-length") and value.isdigit():
        return  # a huge step count or block is clamped to the canvas: not an error
    if flag == "--temperature" and value.isdigit() or flag == "--temperature" and value == "1e308":
        return  # a huge temperature is just very random sampling
    code, _, err = run_cli(["generate", "--model", str(char_model), "--prompt", "ab", "--max-new-tokens", "4",
                            flag, value])
    assert code == 2 and "Traceback" not in err, (flag, value, err)
    last = err.strip().splitlines()[-1]  # argparse's own type errors print the usage lines above it
    assert "error:" in last and (flag in last or flag.lstrip("-").replace("-", "_") in last), err


BENCH_FLAGS = ["--length", "--batch-size", "--designs", "--threads"]


@FAST
@given(flag=st.sampled_from(BENCH_FLAGS), value=BAD_NUMBERS)
def test_bench_bad_numbers(char_model, tmp_path, flag, value):
    out = tmp_path / "bench.json"
    code, _, err = run_cli(["bench", "--model", str(char_model), "--grid", "quick", "--json", str(out), flag, value])
    assert code == 2 and "Traceback" not in err and not out.exists(), (flag, value, err)


@pytest.mark.parametrize("argv, needle", [
    (["generate", "--prompt", "ab", "--device", "tpu9"], "--device 'tpu9' is not a torch device"),
    (["bench", "--device", "tpu9"], "--device 'tpu9' is not a torch device"),
    (["generate", "--prompt", "ab", "--max-new-tokens", "100000000"], "over this model's limit of 8192"),
    (["generate", "--prompt", "ab", "--temperature", "nan"], "temperature=nan"),
    (["bench", "--length", "100000000"], "--length 100000000 is over the limit"),
    (["generate", "--prompt", "ab\udcff"], "the prompt holds '\\udcff'"),  # the byte 0xff in a command line
])
def test_core_commands_refuse_before_work(char_model, argv, needle):
    assert_usage_error([argv[0], "--model", str(char_model), *argv[1:]], needle)


TRAIN_FIELDS = ["trainer.max_steps", "trainer.batch_size", "trainer.num_nodes", "trainer.num_workers",
                "model.d_model", "model.n_layers", "model.n_heads", "model.ffn_dim", "ema_decay"]
YAML_BAD = st.sampled_from([".nan", ".inf", "-.inf", "-1", "0.5", "1e400", str(10**30), "ten", "[]", "{a: 1}",
                            "'\\x00'"]) | st.integers(max_value=-1).map(str)


@settings(FAST, max_examples=15)
@given(key=st.sampled_from(TRAIN_FIELDS), value=YAML_BAD)
def test_train_bad_numbers(tmp_path, key, value):
    if key == "ema_decay" and value == "0.5":
        return  # a valid decay
    out = tmp_path / "run"
    err = assert_usage_error(["train", "--set", "domain=toy", "--set", f"{key}={value}",
                              "--set", f"trainer.out_dir={out}"], key)
    assert len(err.strip().splitlines()) == 1 and not out.exists(), err


def test_train_config_that_is_not_a_small_file(tmp_path):
    assert_usage_error(["train", "--config", "/dev/null"], "is not a regular file")  # /dev/zero: read forever
    big = tmp_path / "big.yaml"
    big.write_text("domain: toy\n" + "# padding\n" * 200_000)
    assert_usage_error(["train", "--config", str(big)], "more than a config's limit")


# ---------------------------------------------------------------- 4, 8: the HTTP host

starlette = pytest.importorskip("starlette")
from starlette.routing import Route  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from seqdiff.serve import ServeContribution  # noqa: E402
from seqdiff.serve.app import HostConfig, create_app, read_json  # noqa: E402
from seqdiff.serve.body import json_response  # noqa: E402


async def _echo(request):
    return json_response(200, await read_json(request))


@pytest.fixture(scope="module")
def host():
    echo = ServeContribution(name="echo", description="echoes JSON", load=lambda options: None,
                             routes=(Route("/echo", _echo, methods=["POST"]),))
    with TestClient(create_app([echo], HostConfig(max_body_bytes=4096)), raise_server_exceptions=False) as client:
        yield client


TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=40)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=12)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)


def _infinite(value) -> bool:
    """Infinity is written ``Infinity`` by json.dumps, which is not JSON: the host refuses it."""
    if isinstance(value, float):
        return not math.isfinite(value)
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return any(_infinite(item) for item in items)


def _lone_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


@FAST
@given(body=JSON)
def test_host_text_and_shapes(host, body):
    """Any JSON value (lone surrogates and NUL included, escaped as JSON allows) is answered, never a 500."""
    raw = json.dumps(body).encode()
    r = host.post("/echo", content=raw)
    parsed = json.loads(raw)  # as the server sees it: escaped surrogate pairs joined, lone ones kept
    if isinstance(body, dict) and len(raw) <= 4096 and not _infinite(body) and \
            not any(_lone_surrogate(s) for s in _strings(parsed)):
        assert r.status_code == 200 and r.json() == parsed
    else:
        assert 400 <= r.status_code < 500, (raw[:80], r.text)


@FAST
@given(raw=st.binary(max_size=200))
def test_host_random_bytes_are_4xx(host, raw):
    assert host.post("/echo", content=raw).status_code in (200, 400, 413)


def test_host_truncated_and_nested_bodies(host):
    for raw in (b'{"a": "b', b"{" * 3000, b"[" * 4000, b'{"a": 1e999999}', b'{"a": NaN}', b"\x00"):
        r = host.post("/echo", content=raw)
        assert r.status_code in (400, 413) and "Traceback" not in r.text, raw[:20]
