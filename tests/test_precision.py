"""The inference dtype: auto picks bf16 only where it is native and the model wide enough; bf16 decoding
keeps float32 logits and the exact cache equivalence."""

from __future__ import annotations

import pytest
import torch

from seqdiff import precision
from seqdiff.checkpoint import from_pretrained
from seqdiff.precision import MIN_CPU_BF16_WIDTH, auto_dtype, cpu_flags, cpu_has_native_bf16, resolve_dtype
from seqdiff.samplers import BlockwiseSampler, CacheOptions, Denoise, row_generators
from seqdiff.testing import INNERS, ROWS, SPECIAL, TOK, batch, tiny_denoiser, write_model_folder

WITH_BF16 = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw avx512_bf16 avx512_vnni\n"
WITHOUT_BF16 = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw avx512_vnni\n"


def test_cpu_flags_are_read_from_cpuinfo_text():
    assert "avx512_bf16" in cpu_flags(WITH_BF16)
    assert "avx512_bf16" not in cpu_flags(WITHOUT_BF16)
    assert cpu_flags("no flags line here\n") == frozenset()


@pytest.mark.parametrize("flags, capability, native", [
    ({"avx512_bf16"}, "AVX512", True), ({"amx_bf16"}, "AVX512", True),
    ({"avx512f"}, "AVX512", False),  # AVX-512 without BF16: bf16 is emulated
    ({"avx512_bf16"}, "AVX2", False),  # torch not using its AVX-512 kernels
    (set(), "DEFAULT", False)])
def test_native_bf16_needs_the_instructions_and_torch_kernels(flags, capability, native):
    assert cpu_has_native_bf16(frozenset(flags), capability) is native


def test_auto_on_cpu_is_bf16_only_when_native_and_wide():
    assert auto_dtype("cpu", MIN_CPU_BF16_WIDTH, cpu_bf16=True) == torch.bfloat16
    assert auto_dtype("cpu", MIN_CPU_BF16_WIDTH - 1, cpu_bf16=True) == torch.float32
    assert auto_dtype("cpu", 4096, cpu_bf16=False) == torch.float32
    assert auto_dtype("mps", 4096, cpu_bf16=True) == torch.float32


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer where no GPU is present")
def test_auto_on_cuda_without_a_gpu_is_float32():
    assert auto_dtype("cuda", 4096) == torch.float32


def test_explicit_choices_and_bad_values():
    assert resolve_dtype("float32", "cpu", 4096) == torch.float32
    assert resolve_dtype("bfloat16", "cpu", 8) == torch.bfloat16
    assert resolve_dtype(torch.float16) == torch.float16
    with pytest.raises(ValueError, match="'half'.*auto, float32, bfloat16"):
        resolve_dtype("half")


@pytest.fixture(scope="module")
def wide_folder(tmp_path_factory):
    return write_model_folder(tmp_path_factory.mktemp("wide") / "m", TOK, "toy", d_model=MIN_CPU_BF16_WIDTH,
                              n_layers=1, n_heads=4)


def _param_dtypes(pre) -> set[torch.dtype]:
    return {p.dtype for p in pre.model.parameters()}


def test_a_cpu_without_bf16_loads_float32(wide_folder, tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(WITHOUT_BF16)
    monkeypatch.setattr(precision, "CPUINFO", cpuinfo)
    assert _param_dtypes(from_pretrained(wide_folder, dtype="auto")) == {torch.float32}


def test_a_cpu_with_native_bf16_loads_a_wide_model_in_bf16(wide_folder, tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(WITH_BF16)
    monkeypatch.setattr(precision, "CPUINFO", cpuinfo)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert _param_dtypes(from_pretrained(wide_folder, dtype="auto")) == {torch.bfloat16}
    assert _param_dtypes(from_pretrained(wide_folder, dtype="float32")) == {torch.float32}


def test_a_narrow_model_stays_float32_even_with_native_bf16(tmp_path, monkeypatch):
    narrow = write_model_folder(tmp_path / "narrow", TOK, "toy")  # d_model 32
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert _param_dtypes(from_pretrained(narrow, dtype="auto")) == {torch.float32}


@pytest.fixture(scope="module")
def bf16_model():
    return tiny_denoiser(seed=1).to(torch.bfloat16)


def _decode(sampler, model, cache, **kw):
    x, e = batch(ROWS)
    return Denoise(sampler, banned_ids=SPECIAL, cache=cache, **kw)(model, x, e, row_generators([1, 2, 3]))


@pytest.mark.parametrize("inner", sorted(INNERS))
@pytest.mark.parametrize("mode", ["prefix", "dual"])
def test_bf16_cache_refreshed_every_step_is_still_exact(inner, mode, bf16_model):
    """A refresh runs the same full-length bf16 forward as no cache, so the equivalence holds in bf16 too
    (windowed forwards between refreshes only agree to bf16 rounding, as in float32 they are approximate)."""
    sampler = BlockwiseSampler(INNERS[inner](), 5)
    plain = _decode(sampler, bf16_model, CacheOptions())
    cached = _decode(sampler, bf16_model, CacheOptions(mode=mode, refresh_every=1))
    assert torch.equal(plain.tokens, cached.tokens) and plain.nfe == cached.nfe


def test_bf16_model_hands_float32_logits_to_hooks_and_samplers(bf16_model):
    seen = []

    def hook(step, x, logits):
        seen.append(logits.dtype)
        return logits

    out = _decode(BlockwiseSampler(INNERS["confidence"](), 5), bf16_model, CacheOptions("dual"), logits_hook=hook)
    assert set(seen) == {torch.float32}
    assert torch.isfinite(out.token_logprob).all()


@pytest.mark.parametrize("argv", [["bench", "--model", "protein"], ["generate", "--model", "m", "--prompt", "p"],
                                  ["serve"], ["design-protein", "--length", "50", "--out", "o"], ["infill"]])
def test_inference_commands_default_to_auto_and_accept_float32(argv):
    from seqdiff.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(argv).dtype == "auto"
    assert parser.parse_args(argv + ["--dtype", "float32"]).dtype == "float32"
    with pytest.raises(SystemExit):
        parser.parse_args(argv + ["--dtype", "half"])
