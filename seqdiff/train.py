"""``seqdiff train``: a YAML config (mapped 1:1 onto dataclasses) → Lightning fit → exported model folder."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Callback, EMAWeightAveraging, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger

from seqdiff.checkpoint import Pretrained, from_pretrained, save_pretrained
from seqdiff.config import from_dict
from seqdiff.data import LoaderConfig, SequenceDataModule
from seqdiff.lit import DiffusionModule, OptimConfig
from seqdiff.model import DenoiserConfig
from seqdiff.noise import NoiseConfig
from seqdiff.plugins import load_domain


@dataclass(frozen=True)
class ModelShape:
    """The model section; vocabulary and special ids come from the domain's tokenizer."""

    d_model: int = field(default=256, metadata={"min": 1, "max": 65536})
    n_layers: int = field(default=6, metadata={"min": 1, "max": 1024})
    n_heads: int = field(default=8, metadata={"min": 1, "max": 1024})
    ffn_dim: int | None = field(default=None, metadata={"min": 1, "max": 1 << 20})
    token_dropout: bool = True
    init_from: str | None = None  # a model folder whose weights start training (same shape and tokenizer)

    def denoiser_fields(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "init_from"}


@dataclass(frozen=True)
class TrainerConfig:
    max_steps: int = field(default=1000, metadata={"min": 1, "max": 10**9})
    batch_size: int = field(default=32, metadata={"min": 1, "max": 1 << 20})
    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = field(default=1, metadata={"min": 1, "max": 4096})
    strategy: str = "auto"  # ddp, fsdp, ... (Lightning strategies)
    precision: str | None = None  # default: bf16-mixed on GPU, 32-true on CPU
    val_every: int = field(default=500, metadata={"min": 1})  # steps between validations
    val_batches: int = field(default=20, metadata={"min": 0})
    log_every: int = field(default=50, metadata={"min": 1})
    num_workers: int = field(default=0, metadata={"min": 0, "max": 256})
    seed: int = 0
    out_dir: str = "runs/default"  # Lightning checkpoints and logs
    max_time_minutes: float | None = field(default=None, metadata={"min": 0.01})  # stop early, then export
    progress: bool = True


@dataclass(frozen=True)
class ExportConfig:
    dir: str | None = None  # where to write the model folder; default <out_dir>/model
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"  # bfloat16/float16: smaller files


@dataclass(frozen=True)
class TrainConfig:
    domain: str
    data: dict[str, Any] = field(default_factory=dict)  # passed to the domain's dataset()
    tokenizer: dict[str, Any] = field(default_factory=dict)  # passed to the domain's build_tokenizer()
    model: ModelShape = field(default_factory=ModelShape)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    ema_decay: float | None = field(default=None, metadata={"min": 0.0, "max": 1.0})  # EMA weights get exported


def parse_overrides(overrides: list[str]) -> dict:
    """``a.b=value`` strings → nested dict; values are parsed as YAML (numbers, booleans, lists)."""
    tree: dict = {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like section.key=value, e.g. trainer.max_steps=100")
        path, raw = item.split("=", 1)
        node = tree
        keys = path.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {item!r}: {key!r} is given a value and sub-keys at once")
        try:
            node[keys[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ValueError(f"--set {item!r}: the value is not valid YAML ({_first_line(err)})") from None
    return tree


def _first_line(err: Exception) -> str:
    return " ".join(str(err).split())[:200]


def merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


MAX_CONFIG_BYTES = 1 << 20


def read_yaml(path: str | Path) -> dict:
    """A YAML config file as a mapping; every way it can be wrong is a ValueError naming the file."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--config {str(path)!r} is a folder; give a YAML file such as configs/protein-small.yaml")
    if path.exists() and not path.is_file():  # /dev/zero or a pipe would be read forever
        raise ValueError(f"--config {str(path)!r} is not a regular file; give a YAML file such as "
                         f"configs/protein-small.yaml")
    if path.is_file() and path.stat().st_size > MAX_CONFIG_BYTES:
        raise ValueError(f"--config {str(path)!r} is {path.stat().st_size} bytes, more than a config's limit of "
                         f"{MAX_CONFIG_BYTES}; is it the right file?")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {str(path)!r} not found") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"config file {str(path)!r} is not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    except yaml.YAMLError as err:
        raise ValueError(f"config file {str(path)!r} is not valid YAML: {_first_line(err)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {str(path)!r} holds a {type(data).__name__}, not a mapping of sections "
                         f"(domain:, data:, model:, trainer:, ...)")
    return data


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """The training config from a YAML file and ``--set`` overrides, types and bounds checked, and its
    domain installed: every mistake is a ValueError naming the field, before anything is built."""
    from seqdiff.plugins import domain_entry_points

    data = merge(read_yaml(path) if path is not None else {}, parse_overrides(list(overrides)))
    if "domain" not in data:
        raise ValueError("the config names no domain: add `domain: protein` (or another installed domain)")
    config = from_dict(TrainConfig, data)
    installed = domain_entry_points()
    if config.domain not in installed:
        raise ValueError(f"domain={config.domain!r} is not installed; installed domains: "
                         f"{', '.join(sorted(installed)) or 'none'} (pip install -e domains/protein)")
    return config


@dataclass
class Prepared:
    """What ``train`` fits, built from the config before any training or file is written, so that a bad
    model shape, tokenizer option or data path is an error up front (the CLI exits 2 on it)."""

    tokenizer: Any
    module: DiffusionModule
    train_set: Any
    val_set: Any


def prepare(config: TrainConfig) -> Prepared:
    tc = config.trainer
    L.seed_everything(tc.seed, workers=True, verbose=False)
    domain = load_domain(config.domain)
    tokenizer = domain.build_tokenizer(config.tokenizer)
    try:
        model_config = DenoiserConfig(vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id,
                                      mask_id=tokenizer.mask_id, **config.model.denoiser_fields())
    except ValueError as err:
        raise ValueError(f"model section: {err}") from None
    module = DiffusionModule(model=model_config.to_dict(), noise=dataclasses.asdict(config.noise),
                             optim=dataclasses.asdict(config.optim), max_steps=tc.max_steps, seed=tc.seed)
    if config.model.init_from:  # a resumed run's checkpoint then replaces these weights
        init_weights(module.model, config.model.init_from, tokenizer)
    return Prepared(tokenizer, module, domain.dataset(tokenizer, config.data, "train"),
                    domain.dataset(tokenizer, config.data, "validation"))


@dataclass(frozen=True)
class Fitted:
    """What a finished Lightning run reports, for the exported model card."""

    trainer: L.Trainer
    metrics: dict[str, float]
    tokens_per_s: float
    minutes: float
    precision: str
    hardware: str


def fit(module: L.LightningModule, data: L.LightningDataModule, tc: TrainerConfig, *, resume: bool,
        grad_clip: float | None, ema_decay: float | None = None, monitor: str | None = "val/nll") -> Fitted:
    """Run Lightning the way every seqdiff trainer does (``train``, and any command that fine-tunes a model
    folder): step-bounded, checkpoints in ``<out_dir>/checkpoints`` with ``last.ckpt`` for ``resume``, CSV
    logs, bf16 on GPU, one step progress bar. ``monitor`` names the validation metric that picks the best
    checkpoint (None: keep only the last)."""
    on_gpu = torch.cuda.is_available() and tc.accelerator in ("auto", "gpu", "cuda")
    precision = tc.precision or ("bf16-mixed" if on_gpu else "32-true")
    out_dir = Path(tc.out_dir)
    checkpoint = ModelCheckpoint(dirpath=out_dir / "checkpoints", save_last=True, every_n_train_steps=tc.val_every,
                                 save_top_k=0 if monitor is None else 1, monitor=monitor)
    throughput = Throughput()
    callbacks: list = [checkpoint, throughput] + ([StepProgressBar(tc.max_time_minutes)] if tc.progress else [])
    if ema_decay:
        callbacks.append(EMAWeightAveraging(decay=ema_decay))
    trainer = L.Trainer(max_steps=tc.max_steps, accelerator=tc.accelerator, devices=tc.devices,
                        num_nodes=tc.num_nodes, strategy=tc.strategy, precision=precision,
                        gradient_clip_val=grad_clip, val_check_interval=tc.val_every,
                        check_val_every_n_epoch=None, limit_val_batches=tc.val_batches,
                        log_every_n_steps=tc.log_every, callbacks=callbacks,
                        logger=CSVLogger(out_dir, name="logs"), enable_progress_bar=tc.progress,
                        enable_model_summary=False, default_root_dir=out_dir,
                        max_time={"minutes": tc.max_time_minutes} if tc.max_time_minutes else None)
    last = out_dir / "checkpoints" / "last.ckpt"
    started = time.time()
    trainer.fit(module, datamodule=data, ckpt_path=str(last) if resume and last.exists() else None)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if monitor is not None:
        metrics.update({k: float(v) for m in trainer.validate(module, datamodule=data, verbose=False)
                        for k, v in m.items()})
    hardware = torch.cuda.get_device_name(0) if on_gpu else f"CPU ({torch.get_num_threads()} threads)"
    return Fitted(trainer, metrics, throughput.tokens_per_s, round((time.time() - started) / 60, 2),
                  precision, hardware)


def train(config: TrainConfig, resume: bool = False, prepared: Prepared | None = None) -> Path:
    """Fit, then export the model folder. Returns the folder's path."""
    tc = config.trainer
    prepared = prepared or prepare(config)
    tokenizer, module, train_set, val_set = prepared.tokenizer, prepared.module, prepared.train_set, prepared.val_set
    data = SequenceDataModule(train_set, val_set, tokenizer.pad_id,
                              LoaderConfig(batch_size=tc.batch_size, num_workers=tc.num_workers, seed=tc.seed))
    fitted = fit(module, data, tc, resume=resume, grad_clip=config.optim.grad_clip, ema_decay=config.ema_decay,
                 monitor=None if val_set is None else "val/nll")
    out_dir = Path(tc.out_dir)
    export_dir = Path(config.export.dir or out_dir / "model")
    if fitted.trainer.is_global_zero:
        meta = {"domain": config.domain, "steps": fitted.trainer.global_step, "batch_size": tc.batch_size,
                "data": config.data, "noise_schedule": config.noise.schedule,
                "validation_nll_nats_per_token": fitted.metrics.get("val/nll"),
                "train_loss_last": fitted.metrics.get("train/loss"),
                "tokens_per_s": fitted.tokens_per_s, "train_minutes": fitted.minutes,
                "hardware": fitted.hardware, "precision": fitted.precision}
        if config.model.init_from:
            meta["init_from"] = config.model.init_from
        pretrained = Pretrained(model=module.model.float(), tokenizer=tokenizer, domain=config.domain,
                                noise=config.noise, meta=meta)
        save_pretrained(pretrained, export_dir, dtype=getattr(torch, config.export.dtype))
        (out_dir / "train_summary.json").write_text(json.dumps(meta, indent=1, default=str))
    return export_dir


def init_weights(model, folder: str, tokenizer) -> None:
    """Copy a model folder's weights into ``model`` (continued training). The folder must have the same
    architecture and the same tokenizer, otherwise its token ids would mean something else."""
    import tempfile

    from seqdiff.tokenizer import TOKENIZER_FILE

    source = from_pretrained(folder)
    ours, theirs = model.config.to_dict(), source.model.config.to_dict()
    differ = sorted(k for k in ours if ours[k] != theirs.get(k))
    if differ:
        raise ValueError(f"model.init_from={folder!r} has a different architecture ("
                         + ", ".join(f"{k}: {theirs.get(k)!r} there, {ours[k]!r} here" for k in differ)
                         + "); set the model section to match it or drop init_from")
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save(Path(tmp))
        same = json.loads((Path(tmp) / TOKENIZER_FILE).read_text()) == \
            json.loads((Path(folder) / TOKENIZER_FILE).read_text())
    if not same:
        raise ValueError(f"model.init_from={folder!r} was trained with another tokenizer than this config "
                         f"builds; use that folder's tokenizer (tokenizer.file) or drop init_from")
    model.load_state_dict(source.model.state_dict())


class StepProgressBar(TQDMProgressBar):
    """One bar over the whole run in optimizer steps of ``max_steps`` (training is step-bounded: Lightning's
    per-epoch bar reads ``Epoch 0/-2``), with the time left when ``max_time_minutes`` ends the run first."""

    def __init__(self, max_time_minutes: float | None = None):
        super().__init__()
        self.max_time_s = max_time_minutes * 60 if max_time_minutes else None
        self.started = time.time()

    def on_train_start(self, trainer, pl_module) -> None:
        super().on_train_start(trainer, pl_module)
        self.started = time.time()
        self.train_progress_bar.reset(total=trainer.max_steps)
        self.train_progress_bar.n = self.train_progress_bar.initial = trainer.global_step  # resumed runs
        self.train_progress_bar.set_description("step")

    def on_train_epoch_start(self, trainer, *_) -> None:  # keep the one bar across epochs
        pass

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        bar = self.train_progress_bar
        bar.n = trainer.global_step
        metrics = self.get_metrics(trainer, pl_module)
        if self.max_time_s is not None:
            metrics["time_left"] = f"{max(0.0, self.max_time_s - (time.time() - self.started)) / 60:.1f}min"
        bar.set_postfix(metrics, refresh=False)
        bar.refresh()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        pass


class Throughput(Callback):
    """Counts maskable tokens seen and wall time spent in training batches."""

    def __init__(self):
        self.tokens, self.seconds, self._start = 0, 0.0, 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seconds += time.perf_counter() - self._start
        self.tokens += int(batch["maskable"].sum()) * trainer.world_size

    @property
    def tokens_per_s(self) -> float:
        return round(self.tokens / self.seconds, 1) if self.seconds else 0.0
