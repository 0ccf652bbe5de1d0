"""The typed config of a training run: five YAML sections (``model``, ``lora``, ``data``, ``loss``,
``train``), each a dataclass that checks its own fields, and :class:`TrainConfig` that reads them
from YAML with ``--set section.key=value`` overrides and names the file, section and field of
anything wrong. The data sources' config is here too: :mod:`~splare_pyserini.training.data`
reads them, :mod:`~splare_pyserini.training.trainer` runs what the config says."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


@dataclass
class SourceConfig:
    """One training data source. ``kind`` picks the reader; ``max_examples`` caps it (sampled with the seed).
    ``exclude_docs`` names a file of document ids, one per line (a dev set's documents, e.g. the output of
    ``encode_scripts/heldout_ids.py``): a qrels source drops every query judging one of them and never
    takes one as a negative, so the dev set stays unseen."""

    kind: Literal["triples", "qrels", "label_free", "examples"]
    path: str
    split: str = "train"
    collection: str | None = None
    queries: str | None = None
    mode: Literal["title_body", "spans"] = "title_body"
    max_examples: int | None = None
    mine_negatives: bool = True
    exclude_docs: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("triples", "qrels", "label_free", "examples"):
            raise ValueError(f"source kind={self.kind!r} must be triples, qrels, label_free or examples")
        if self.mode not in ("title_body", "spans"):
            raise ValueError(f"source mode={self.mode!r} must be title_body or spans")
        if (self.collection is None) != (self.queries is None):
            raise ValueError("triples by id need both collection and queries")
        if self.max_examples is not None and self.max_examples <= 0:
            raise ValueError(f"max_examples={self.max_examples} must be positive")
        if self.exclude_docs is not None and self.kind != "qrels":
            raise ValueError(f"exclude_docs applies to qrels sources, not kind={self.kind!r}")

    @property
    def label(self) -> str:
        return self.name or f"{self.kind}:{Path(self.path).name}"


DEFAULT_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class ModelSettings:
    """Start from a SPLARE model dir (``base``; "default" = the embedded zero-shot model) or build one
    from a Hugging Face causal LM + a sae-lens SAE (``backbone``, ``layer``, ``sae_path`` or
    ``sae_release``/``sae_id``)."""

    base: str | None = "default"
    backbone: str | None = None
    layer: int | None = None
    sae_path: str | None = None
    sae_release: str | None = None
    sae_id: str | None = None
    torch_dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"
    query_top_k: int | None = 40
    doc_top_k: int | None = 400
    bidirectional: bool = False  # drop the causal mask (Gemma 3's use_bidirectional_attention)

    def __post_init__(self) -> None:
        if self.backbone is not None:
            self.base = None
        if self.base is None and (self.backbone is None or self.layer is None):
            raise ValueError("model: give base (a SPLARE model dir or 'default'), or backbone + layer + an SAE")
        if self.base is None and not (self.sae_path or (self.sae_release and self.sae_id)):
            raise ValueError("model: building from a backbone needs sae_path, or sae_release + sae_id")


@dataclass
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_TARGET_MODULES))


@dataclass
class DataSettings:
    """Training sources, hard negatives per example (0: in-batch negatives only) mined from
    Pyserini BM25's top ``bm25_depth``, and an optional teacher score file for distillation."""

    sources: list[SourceConfig] = field(default_factory=list)
    hard_negatives: int = 1
    bm25_depth: int = 50
    teacher_scores: str | None = None
    # Multiplies teacher scores: MarginMSE regresses the student's margins onto the teacher's, so
    # their scales must match (the default's margins are ~25x all-MiniLM's cosine margins).
    teacher_scale: float = 1.0
    query_max_length: int = 32
    doc_max_length: int = 192

    def __post_init__(self) -> None:
        self.sources = [s if isinstance(s, SourceConfig) else SourceConfig(**s) for s in self.sources]
        if not self.sources:
            raise ValueError("data.sources is empty: nothing to train on")
        if self.hard_negatives < 0:
            raise ValueError(f"data.hard_negatives={self.hard_negatives} must be >= 0")
        if not self.teacher_scale > 0:
            raise ValueError(f"data.teacher_scale={self.teacher_scale} must be positive")


@dataclass
class LossSettings:
    """``infonce`` (in-batch + hard negatives), ``margin_mse`` or ``kl`` (teacher scores needed);
    FLOPS weights reached after a quadratic warm-up over ``flops_warmup_ratio`` of the steps;
    ``top_k`` applies the model's query/doc Top-K inside the loss as at inference. ``temperature``
    divides the student's scores (InfoNCE, KL); ``teacher_temperature`` divides the teacher's for
    KL (1: the teacher's own softmax, as in the paper; sentence-transformers scales the KL by
    ``temperature`` squared)."""

    kind: Literal["infonce", "margin_mse", "kl"] = "infonce"
    temperature: float = 1.0
    teacher_temperature: float = 1.0
    flops_query: float = 1e-4
    flops_doc: float = 5e-5
    flops_warmup_ratio: float = 1 / 3
    top_k: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("infonce", "margin_mse", "kl"):
            raise ValueError(f"loss.kind={self.kind!r} must be infonce, margin_mse or kl")
        for name in ("temperature", "teacher_temperature"):
            if getattr(self, name) <= 0:
                raise ValueError(f"loss.{name}={getattr(self, name)} must be > 0")


@dataclass
class TrainSettings:
    output_dir: str = "runs/train"
    batch_size: int = 16
    """Examples per step and process (sentence-transformers' ``per_device_train_batch_size``)."""
    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int = -1
    """Steps of the run when > 0 (then ``epochs`` is ignored, as in transformers)."""
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    save_steps: int = 25
    save_total_limit: int = 2
    logging_steps: int = 5
    seed: int = 42
    gradient_checkpointing: bool = False
    dataloader_num_workers: int = 0
    stop_after_steps: int | None = None
    """End at this step (saving a checkpoint) while keeping the full run's learning-rate schedule:
    a time budget that stays reproducible, unlike a smaller max_steps."""
    keep_checkpoint: str | None = None
    """A folder that every save copies the checkpoint's small files into (adapter in float16, trainer
    state, schedule, RNG; no optimizer state, no frozen SAE): commit it, and ``--resume`` on a machine
    without ``output_dir`` restores the run from it (:mod:`~splare_pyserini.training.checkpoints`)."""


@dataclass
class TrainConfig:
    model: ModelSettings = field(default_factory=ModelSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    data: DataSettings | None = None
    loss: LossSettings = field(default_factory=LossSettings)
    train: TrainSettings = field(default_factory=TrainSettings)

    def __post_init__(self) -> None:
        if self.data is None:
            raise ValueError("missing section 'data' (data.sources lists what to train on)")
        if self.loss.kind != "infonce" and not self.data.teacher_scores:
            raise ValueError(f"loss.kind={self.loss.kind} needs data.teacher_scores "
                             "(a TREC run or 'qid docid score' file; see splare_pyserini.teacher_scores)")
        if self.loss.kind != "infonce" and not self.data.hard_negatives:
            raise ValueError(f"loss.kind={self.loss.kind} needs data.hard_negatives >= 1")

    @classmethod
    def from_dict(cls, values: dict[str, Any], origin: str = "config") -> "TrainConfig":
        sections = {}
        if not values.get("data"):
            raise ValueError(f"{origin}: missing section 'data' (data.sources lists what to train on)")
        classes = {"model": ModelSettings, "lora": LoraSettings, "data": DataSettings,
                   "loss": LossSettings, "train": TrainSettings}
        for name, klass in classes.items():
            raw = values.get(name, {}) or {}
            unknown = set(raw) - {f.name for f in dataclasses.fields(klass)}
            if unknown:
                raise ValueError(f"{origin}: unknown field(s) {sorted(unknown)} in section {name!r}; "
                                 f"allowed: {sorted(f.name for f in dataclasses.fields(klass))}")
            raw = _floats(klass, raw, f"{origin}: {name}")
            try:
                sections[name] = klass(**raw)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{origin}: section {name!r}: {exc}") from None
        extra = set(values) - set(sections)
        if extra:
            raise ValueError(f"{origin}: unknown section(s) {sorted(extra)}; allowed: {sorted(sections)}")
        try:
            return cls(**sections)
        except ValueError as exc:
            raise ValueError(f"{origin}: {exc}") from None

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] = ()) -> "TrainConfig":
        path = Path(path)
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in overrides:
            key, sep, raw = item.partition("=")
            if not sep or "." not in key:
                raise ValueError(f"--set {item!r}: expected section.key=value")
            section, name = key.split(".", 1)
            values.setdefault(section, {})[name] = yaml.safe_load(raw)
        return cls.from_dict(values, origin=str(path))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _floats(klass, raw: dict[str, Any], where: str) -> dict[str, Any]:
    """YAML 1.1 reads ``3e-3`` (no dot) as a string: convert float fields, refuse non-numbers."""
    raw = dict(raw)
    for f in dataclasses.fields(klass):
        value = raw.get(f.name)
        if f.type == "float" and isinstance(value, str):
            try:
                raw[f.name] = float(value)
            except ValueError:
                raise ValueError(f"{where}.{f.name}={value!r} is not a number") from None
    return raw
