"""Pretrained families (LLaDA, Dream, ESM-2/DPLM) from tiny random folders the tests write in each family's own
layout: our logits equal the reference implementation's, caches stay exact when refreshed every step, the
sampler contract holds, sharded loading, tokenizers, error paths, and nothing in a folder is executed."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import seqdiff
from seqdiff.families.chat import ChatTemplate, ChatTemplateError
from seqdiff.families.hf import UnsupportedModelError
from seqdiff.model import Denoiser
from seqdiff.samplers import BlockwiseSampler, CacheOptions, Denoise, row_generators
from seqdiff.testing import INNERS, SAMPLERS

transformers = pytest.importorskip("transformers")
from seqdiff.families.testing import (  # noqa: E402  (after the importorskip)
    BUILDERS, EOS, ESM_VOCAB, EXTRA_ROWS, MASK, PAD, SPECIALS, make_dream, make_llada)

@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {name: build(tmp_path_factory.mktemp(name)) for name, build in BUILDERS.items()}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def family(request, folders):
    folder, ref = folders[request.param]
    return request.param, seqdiff.from_pretrained(folder), ref


def _tokens(pre, length=20, rows=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    tok = pre.tokenizer
    ordinary = [i for i in range(tok.vocab_size) if i not in tok.special_ids]
    x = torch.tensor(ordinary)[torch.randint(len(ordinary), (rows, length), generator=g)]
    x[0, 4:11] = tok.mask_id
    x[1, -3:] = tok.eos_id
    return x


# ---------------------------------------------------------------- logits equal the reference's


def test_logits_equal_the_reference(family):
    name, pre, ref = family
    x = _tokens(pre)
    with torch.no_grad():
        ours = pre.model(x)
        if name in ("esm", "dplm"):
            expected = ref(x, attention_mask=torch.ones_like(x)).logits
        else:
            full = torch.ones(x.shape[0], 1, x.shape[1], x.shape[1], dtype=torch.bool)  # bidirectional
            expected = ref(x, attention_mask=full).logits
            if name == "dream":  # token i is scored by the output at i-1
                expected = torch.cat([expected[:, :1], expected[:, :-1]], dim=1)
    assert ours.shape == expected.shape
    assert (ours - expected).abs().max() <= 1e-5


def test_esm_padding_matches_the_reference(folders):
    pre = seqdiff.from_pretrained(folders["esm"][0])
    ref = folders["esm"][1]
    x = _tokens(pre)
    x[2, 14:] = pre.tokenizer.pad_id
    real = x != pre.tokenizer.pad_id
    with torch.no_grad():
        diff = pre.model(x) - ref(x, attention_mask=real.long()).logits
    assert diff[real].abs().max() <= 1e-5


def test_config_mirrors_each_family(folders):
    configs = {name: seqdiff.from_pretrained(folders[name][0]).model.config for name in BUILDERS}
    assert configs["llada"].norm == configs["dream"].norm == "rmsnorm"
    assert configs["llada"].kv_heads == configs["dream"].kv_heads == 2
    assert configs["dream"].logits_shift and not configs["llada"].logits_shift
    assert configs["dream"].qkv_bias and not configs["dream"].out_bias and not configs["llada"].qkv_bias
    assert configs["esm"].lm_head == "esm" and configs["esm"].token_dropout
    for cfg in configs.values():
        assert Denoiser(cfg).num_parameters() == cfg.estimated_parameters()


def test_bf16_loads_straight_into_the_dtype(folders):
    pre = seqdiff.from_pretrained(folders["llada"][0], dtype=torch.bfloat16)
    assert {p.dtype for p in pre.model.parameters()} == {torch.bfloat16}
    assert not any(p.is_meta for p in pre.model.parameters())
    full = seqdiff.from_pretrained(folders["llada"][0])
    x = _tokens(full)
    with torch.no_grad():
        assert (pre.model(x).float() - full.model(x)).abs().max() < 0.25 * full.model(x).abs().max()


# ---------------------------------------------------------------- caches and samplers on every family


def _canvas(pre, prompts: list[list[int]], n_masks: list[int]):
    """<prompt> [masks] <eos>, right-padded with the family's own pad id."""
    tok = pre.tokenizer
    rows = [(p + [tok.mask_id] * n + [tok.eos_id], [False] * len(p) + [True] * n + [False])
            for p, n in zip(prompts, n_masks)]
    length = max(len(ids) for ids, _ in rows)
    x = torch.full((len(rows), length), tok.pad_id)
    e = torch.zeros((len(rows), length), dtype=torch.bool)
    for r, (ids, edit) in enumerate(rows):
        x[r, : len(ids)], e[r, : len(ids)] = torch.tensor(ids), torch.tensor(edit)
    return x, e


def _rows(pre):
    ordinary = [i for i in range(8, 200) if i not in pre.tokenizer.special_ids]
    return _canvas(pre, [ordinary[:2], ordinary[3:10], []], [14, 9, 17])


@pytest.mark.parametrize("mode", ["prefix", "dual"])
@pytest.mark.parametrize("inner", ["confidence", "threshold"])
def test_cache_refreshed_every_step_equals_uncached(family, mode, inner):
    _, pre, _ = family
    x, e = _rows(pre)
    banned = sorted(pre.tokenizer.special_ids)
    sampler = BlockwiseSampler(INNERS[inner](), 5)
    plain = Denoise(sampler, banned_ids=banned)(pre.model, x, e, row_generators([1, 2, 3]))
    cached = Denoise(sampler, banned_ids=banned, cache=CacheOptions(mode=mode, refresh_every=1))(
        pre.model, x, e, row_generators([1, 2, 3]))
    assert torch.equal(plain.tokens, cached.tokens) and plain.nfe == cached.nfe


def test_windowed_forward_matches_full_forward(family):
    """For Dream the window's first logit needs the output at start-1: the window recomputes it."""
    _, pre, _ = family
    x = _tokens(pre)
    with torch.no_grad():
        full = pre.model(x)
        cache = pre.model.new_cache()
        assert torch.equal(pre.model(x, cache=cache, window=(4, 11), refresh=True), full[:, 4:11])
        for window in [(4, 11), (6, x.shape[1]), (0, 3)]:
            torch.testing.assert_close(pre.model(x, cache=cache, window=window), full[:, window[0]:window[1]],
                                       atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sampler_contract(family, name):
    """tests/test_samplers.py's contract (same sampler factories) on each family's own ids."""
    _, pre, _ = family
    make, _ = SAMPLERS[name]
    x, e = _rows(pre)
    banned = sorted(pre.tokenizer.special_ids)
    out = Denoise(make(1.0), banned_ids=banned)(pre.model, x, e, row_generators([1, 2, 3]))
    assert torch.equal(out.tokens[~e], x[~e])
    assert not (out.tokens == pre.tokenizer.mask_id).any()
    assert not torch.isin(out.tokens[e], torch.tensor(banned)).any()
    assert out.steps == len(out.tokens_per_step) and out.nfe >= 1
    again = Denoise(make(1.0), banned_ids=banned)(pre.model, x, e, row_generators([1, 2, 3]))
    assert torch.equal(out.tokens, again.tokens)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_batch_invariance(family, name):
    """With per-row seeds, right padding and the other rows never change a row's output."""
    _, pre, _ = family
    make, _ = SAMPLERS[name]
    x, e = _rows(pre)
    banned = sorted(pre.tokenizer.special_ids)
    out = Denoise(make(1.0), banned_ids=banned)(pre.model, x, e, row_generators([1, 2, 3]))
    for r in range(x.shape[0]):
        n = int((x[r] != pre.tokenizer.pad_id).sum())
        alone = Denoise(make(1.0), banned_ids=banned)(pre.model, x[r:r + 1, :n], e[r:r + 1, :n],
                                                       row_generators([r + 1]))
        assert torch.equal(out.tokens[r, :n], alone.tokens[0]), f"row {r}"


# ---------------------------------------------------------------- loading


def test_sharded_loading_equals_single_file(tmp_path, folders):
    single = seqdiff.from_pretrained(folders["dream"][0])
    folder, _ = make_dream(tmp_path / "sharded")
    from safetensors.torch import load_file

    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    keys = sorted(state)
    shards = {"model-00001-of-00002.safetensors": keys[::2], "model-00002-of-00002.safetensors": keys[1::2]}
    for file, names in shards.items():
        save_file({k: state[k] for k in names}, str(folder / file))
    index = {"metadata": {}, "weight_map": {k: f for f, names in shards.items() for k in names}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    sharded = seqdiff.from_pretrained(folder)
    x = _tokens(single)
    with torch.no_grad():
        assert torch.equal(sharded.model(x), single.model(x))


def test_tokenizer_round_trip_and_special_ids(folders):
    pre = seqdiff.from_pretrained(folders["llada"][0])
    tok = pre.tokenizer
    text = "def add(a, b):\n    return a + b"
    assert tok.decode(tok.encode(text)) == text
    assert (tok.pad_id, tok.mask_id, tok.eos_id) == (PAD, MASK, EOS)
    assert set(range(len(SPECIALS))) <= tok.special_ids
    beyond = range(pre.model.config.vocab_size - EXTRA_ROWS, pre.model.config.vocab_size)
    assert set(beyond) <= tok.special_ids and tok.vocab_size == pre.model.config.vocab_size
    assert tok.unused_ids == {*beyond, PAD}  # never drawn by generate; other specials end the answer
    assert tok.decode([*tok.encode("hello"), tok.eos_id, tok.mask_id]) == "hello"


def test_esm_tokenizer_is_the_protein_alphabet(folders):
    pre = seqdiff.from_pretrained(folders["dplm"][0])
    assert pre.domain == "protein" and pre.meta == {"family": "esm", "dplm_type": "dplm"}
    assert tuple(pre.tokenizer.tokens) == tuple(ESM_VOCAB) and pre.tokenizer.eos_id == ESM_VOCAB.index("<eos>")
    assert pre.tokenizer.decode(pre.tokenizer.encode("MKTAYIAK")) == "MKTAYIAK"


def test_chat_template_is_rendered_in_a_sandbox(folders):
    pre = seqdiff.from_pretrained(folders["dream"][0])
    text = pre.chat.render([{"role": "user", "content": "hi"}])
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    with pytest.raises(ChatTemplateError):
        ChatTemplate("{{ ''.__class__.__mro__[1].__subclasses__() }}").render([])
    with pytest.raises(ChatTemplateError, match="refused"):
        ChatTemplate("{{ raise_exception('no system role') }}").render([])


def test_nothing_in_the_folder_is_executed_or_unpickled(tmp_path):
    folder, _ = make_llada(tmp_path / "llada")
    marker = tmp_path / "executed"
    (folder / "modeling_llada.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit\n")
    (folder / "configuration_llada.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    pre = seqdiff.from_pretrained(folder)
    assert isinstance(pre.model, Denoiser) and not marker.exists()
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="pickles, which seqdiff never reads"):
        seqdiff.from_pretrained(folder)
    assert not marker.exists()


def _edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("changes, error, message", [
    ({"model_type": "gpt2"}, UnsupportedModelError, "'llada'.*'Dream'"),
    ({"d_model": None}, ValueError, "has no 'd_model'"),
    ({"layer_norm_type": "default"}, ValueError, "layer_norm_type"),
    ({"n_kv_heads": 3}, ValueError, "n_kv_heads"),
    ({"mlp_hidden_size": 64}, ValueError, "shape"),
])
def test_malformed_folders_give_clear_errors(tmp_path, changes, error, message):
    folder, _ = make_llada(tmp_path / "llada")
    _edit_config(folder, **changes)
    with pytest.raises(error, match=message):
        seqdiff.from_pretrained(folder)


def test_special_ids_fall_back_to_the_tokenizer_files(tmp_path):
    folder, _ = make_llada(tmp_path / "llada")
    _edit_config(folder, eos_token_id=None)
    assert seqdiff.from_pretrained(folder).tokenizer.eos_id == EOS  # tokenizer_config.json's eos_token
    (folder / "tokenizer_config.json").unlink()
    with pytest.raises(ValueError, match="names no eos token"):
        seqdiff.from_pretrained(folder)


def test_missing_files_and_bad_shard_index(tmp_path):
    folder, _ = make_llada(tmp_path / "llada")
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"x": "../evil.safetensors"}}))
    with pytest.raises(ValueError, match="must be .safetensors files in the folder"):
        seqdiff.from_pretrained(folder)
    (folder / "model.safetensors.index.json").unlink()
    (folder / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        seqdiff.from_pretrained(folder)


# ---------------------------------------------------------------- generate (Python and CLI)


def _cli(*args: str):
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "seqdiff", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.mark.parametrize("name", ["llada", "dream"])
def test_generate_in_python(folders, name):
    pre = seqdiff.from_pretrained(folders[name][0])
    plain = seqdiff.generate(pre, "def add(a, b):", max_new_tokens=12, block_length=4, seed=3)
    assert plain.nfe == plain.steps == 12 and plain.tokens_per_step == 1.0
    assert len(plain.token_ids) == 12 and not {pre.tokenizer.mask_id, *pre.tokenizer.unused_ids} & {*plain.token_ids}
    ends = [i for i, t in enumerate(plain.token_ids) if t in pre.tokenizer.special_ids]
    assert plain.text == pre.tokenizer.decode(plain.token_ids[: ends[0] if ends else 12])
    exact = seqdiff.generate(pre, "def add(a, b):", max_new_tokens=12, block_length=4, seed=3, cache="dual",
                             refresh_every=1)
    assert exact.token_ids == plain.token_ids
    fast = seqdiff.generate(pre, "hi", max_new_tokens=12, block_length=4, threshold=0.01, cache="prefix", chat=True)
    assert fast.steps <= 12 and fast.prompt_tokens == len(pre.tokenizer.encode(
        pre.chat.render([{"role": "user", "content": "hi"}]), add_special_tokens=False))


@pytest.mark.parametrize("name", ["llada", "dream"])
def test_generate_cli_end_to_end(folders, name):
    folder = folders[name][0]
    out = _cli("generate", "--model", str(folder), "--prompt", "hello world", "--chat", "--max-new-tokens", "16",
               "--steps", "8", "--block-length", "8", "--cache", "dual", "--temperature", "0.5", "--seed", "1")
    assert out.returncode == 0, out.stderr
    assert "nfe " in out.stderr and "2.00 tokens/step" in out.stderr
    again = _cli("generate", "--model", str(folder), "--prompt", "hello world", "--chat", "--max-new-tokens", "16",
                 "--steps", "8", "--block-length", "8", "--cache", "dual", "--temperature", "0.5", "--seed", "1")
    assert again.stdout == out.stdout


def test_generate_cli_errors_exit_2(tmp_path, folders):
    folder, _ = make_llada(tmp_path / "llada")
    _edit_config(folder, model_type="mamba")
    out = _cli("generate", "--model", str(folder), "--prompt", "x")
    assert out.returncode == 2 and "model_type='mamba' is not supported" in out.stderr and "'Dream'" in out.stderr
    out = _cli("generate", "--model", str(folders["llada"][0]), "--prompt", "x", "--max-new-tokens", "0")
    assert out.returncode == 2 and "max_new_tokens=0" in out.stderr
    (tmp_path / "llada" / "tokenizer_config.json").unlink()
    _edit_config(folder, model_type="llada")
    out = _cli("generate", "--model", str(folder), "--prompt", "x", "--chat")
    assert out.returncode == 2 and "no chat template" in out.stderr


@pytest.mark.parametrize("name", ["esm", "dplm"])
def test_design_protein_takes_a_hugging_face_esm_folder(tmp_path, folders, name):
    pytest.importorskip("seqdiff_protein")
    out = _cli("design-protein", "--length", "12", "-n", "2", "--steps", "4", "--model", str(folders[name][0]),
               "--esm-model", "none", "--train-fasta", "none", "--quiet", "--out", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    fasta = (tmp_path / "out" / "designs.fasta").read_text()
    assert fasta.count(">") == 2
