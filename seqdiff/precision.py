"""Which dtype inference runs in: the one place every loader asks (``--dtype auto|float32|bfloat16``).

``auto`` picks bfloat16 where it is both native and faster, float32 elsewhere:

- CUDA: bfloat16 when the GPU supports it (``torch.cuda.is_bf16_supported()``).
- CPU: bfloat16 only when the CPU computes it natively (x86 ``avx512_bf16`` or ``amx_bf16`` in
  /proc/cpuinfo, with torch's AVX-512 kernels in use) *and* the model is at least ``MIN_CPU_BF16_WIDTH``
  wide. Without native support bf16 is emulated and slower, so float32 is kept. Measured on a 2-core
  AVX-512 BF16 CPU, one thread, ms per forward float32 → bfloat16: the bundled protein model (8 x 256,
  6.4M) at length 256 59 → 34 (batch 8: 464 → 254), length 64 16 → 12; the bundled code model (6 x 256,
  5.9M) at length 128 25 → 15; a 12 x 512 (38M) at length 256 271 → 164. Narrower models lose: d_model 32
  at length 128 0.8 → 2.1, d_model 128 x 4 at length 32 2.2 → 5.2, d_model 64 at length 128 1.4 → 1.9.
- Anything else (MPS, other CPUs): float32.

Logits are always returned to the sampler as float32 (``seqdiff.samplers.loop``), so softmax, log-probs and
top-k/top-p run in float32 whatever the weights' dtype.
"""

from __future__ import annotations

from pathlib import Path

import torch

CHOICES = ("auto", "float32", "bfloat16")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MIN_CPU_BF16_WIDTH = 256  # d_model; narrower models ran slower in bf16 (figures above)
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo text (empty where there is none, e.g. macOS)."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text()
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_has_native_bf16(flags: frozenset[str] | None = None, capability: str | None = None) -> bool:
    """True when bf16 matmuls run natively here: the CPU has the instructions and torch dispatches to its
    AVX-512 kernels (a torch build or ATEN_CPU_CAPABILITY below AVX512 would emulate them)."""
    flags = cpu_flags() if flags is None else flags
    capability = torch.backends.cpu.get_cpu_capability() if capability is None else capability
    return bool(flags & NATIVE_BF16_FLAGS) and capability.startswith(("AVX512", "AMX"))


def auto_dtype(device: str | torch.device, width: int | None, cpu_bf16: bool | None = None) -> torch.dtype:
    """The dtype ``auto`` stands for on ``device`` for a model of hidden size ``width`` (None: unknown,
    treated as wide). ``cpu_bf16`` overrides the CPU probe (tests)."""
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    if kind != "cpu":
        return torch.float32
    native = cpu_has_native_bf16() if cpu_bf16 is None else cpu_bf16
    wide = width is None or width >= MIN_CPU_BF16_WIDTH
    return torch.bfloat16 if native and wide else torch.float32


def resolve_dtype(choice: str | torch.dtype, device: str | torch.device = "cpu",
                  width: int | None = None) -> torch.dtype:
    """A ``--dtype`` value (or a torch dtype, passed through) as the torch dtype to load weights in."""
    if isinstance(choice, torch.dtype):
        return choice
    if choice == "auto":
        return auto_dtype(device, width)
    if choice not in DTYPES:
        raise ValueError(f"dtype {choice!r} is not one of {', '.join(CHOICES)} (e.g. --dtype float32 to force "
                         f"full precision)")
    return DTYPES[choice]


def add_dtype_argument(parser, extra: tuple[str, ...] = ()) -> None:
    """The shared ``--dtype`` flag of every command that loads a model for inference; ``extra`` adds
    choices (``generate`` keeps float16 for GPUs without bf16)."""
    parser.add_argument("--dtype", choices=CHOICES + extra, default="auto",
                        help="weights' dtype: auto (default) = bfloat16 on a GPU that has it, and on a CPU with "
                             "native bf16 (AVX-512 BF16 / AMX) for models of d_model >= "
                             f"{MIN_CPU_BF16_WIDTH}; float32 elsewhere. float32 forces full precision")
