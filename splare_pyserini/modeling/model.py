"""SPLARE model: causal-LM backbone cut at layer l -> frozen SAE -> SPLADE pooling -> Top-K.

The model is a sentence-transformers ``SparseEncoder`` whose modules are
:class:`~splare_pyserini.modeling.backbone.CausalLMBackbone`,
:class:`~splare_pyserini.modeling.sae_latents.SAELatents` and sentence-transformers' own
``SpladePooling``. A saved model directory is therefore an ordinary sentence-transformers
directory (``SparseEncoder(dir)`` opens it) plus ``splare_config.json`` with the settings
that retrieval needs on both sides (query/document Top-K, the quantization scale).

Pooling note: sentence-transformers' ``activation_function="relu"`` already computes
``log(1 + ReLU(x))`` (SPLADE's and SPLARE's formula); its ``"log1p_relu"`` would apply
``log1p`` twice, so SPLARE uses ``"relu"``.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Iterable, Literal, Sequence

import torch

from splare_pyserini.modeling import quiet_loading
from splare_pyserini.modeling.latent_pooling import pool_sae_latents, supports_fast_pooling
from splare_pyserini.modeling.sparse_vectors import latent_name, quantize, to_sparse_dicts, top_k

logger = logging.getLogger(__name__)

SPLARE_CONFIG = "splare_config.json"
ENCODER_REVISION = 3
"""Bumped when the same model directory starts giving other vectors (2: each text encoded alone,
batch-invariant; 3: every kernel on one thread, thread-count-invariant); part of an encode's settings, so a cached or resumed encode of an older revision is redone."""
DEFAULT_MODEL_NAME = "splare-gemma3-270m"
Kind = Literal["query", "document"]


def default_model_dir() -> Path:
    """The embedded default model shipped inside the package."""
    return packaged_model_dir(DEFAULT_MODEL_NAME)


def packaged_model_dir(name: str) -> Path:
    """A model shipped inside the package, by its folder name (e.g. ``splare-gemma3-270m-zeroshot``)."""
    return Path(str(files("splare_pyserini").joinpath("models", name)))


def resolve_model_dir(path: str | os.PathLike | None) -> Path:
    """``None``/``"default"``: the embedded default; a packaged model's name; else a directory path."""
    if path in (None, "default"):
        return default_model_dir()
    if isinstance(path, str) and "/" not in path and not Path(path).exists() and packaged_model_dir(path).is_dir():
        return packaged_model_dir(path)
    return Path(path)


@dataclass
class SplareConfig:
    """Retrieval settings stored with a model so documents and queries agree.

    ``query_top_k``/``doc_top_k``: latents kept per vector (None keeps every active one).
    ``quantization_scale``: integer impact = round(weight * scale).
    ``pooling``: ``max`` (SPLARE) or ``sum`` over tokens.
    ``stop_latents``: latents removed from every vector after Top-K, as stopwords from an index:
    the near-always-on ones (``python -m splare_pyserini.label_latents --stop-density D``) add an
    almost constant score and the longest posting lists.
    ``hybrid_alpha``: BM25's share of a hybrid query's score (:mod:`splare_pyserini.lucene.hybrid`), chosen on
    a dev set (``python -m eval.hybrid_alpha``); ``fusion_alpha``: BM25's share when two runs are fused by
    normalized interpolation (:func:`splare_pyserini.lucene.pyserini_cli.fuse_interpolation`), chosen the same way.
    """

    query_top_k: int | None = 40
    doc_top_k: int | None = 400
    quantization_scale: float = 100.0
    pooling: str = "max"
    stop_latents: list[int] = field(default_factory=list)
    hybrid_alpha: float = 0.5
    fusion_alpha: float = 0.5

    def __post_init__(self) -> None:
        for name in ("query_top_k", "doc_top_k"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ValueError(f"{name}={value!r} must be a positive integer or None")
        if not self.quantization_scale > 0:
            raise ValueError(f"quantization_scale={self.quantization_scale!r} must be > 0")
        if self.pooling not in ("max", "sum"):
            raise ValueError(f"pooling={self.pooling!r} must be 'max' or 'sum'")
        if not all(isinstance(i, int) and i >= 0 for i in self.stop_latents):
            raise ValueError(f"stop_latents must be latent indices (non-negative integers), got {self.stop_latents!r}")
        self.stop_latents = sorted(set(self.stop_latents))
        for name in ("hybrid_alpha", "fusion_alpha"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be in [0, 1]")

    def top_k_for(self, kind: Kind) -> int | None:
        return self.query_top_k if kind == "query" else self.doc_top_k

    @classmethod
    def from_dict(cls, values: dict) -> "SplareConfig":
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown SplareConfig fields {sorted(unknown)}; allowed: {sorted(cls.__dataclass_fields__)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


class SplareModel:
    """Encode texts into SPLARE sparse latent vectors (float or Lucene-ready integer impacts)."""

    def __init__(self, encoder, config: SplareConfig | None = None, name_or_path: str | None = None) -> None:
        self.encoder = encoder
        self.config = config or SplareConfig()
        self.name_or_path = name_or_path
        self._latent_labels = None

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        backbone: str,
        layer: int,
        sae_path: str | None = None,
        sae_release: str | None = None,
        sae_id: str | None = None,
        config: SplareConfig | None = None,
        max_seq_length: int = 512,
        torch_dtype: str = "float32",
        device: str = "cpu",
        sae_compute_dtype: str = "float32",
    ) -> "SplareModel":
        """Assemble a model from a Hugging Face causal LM and a sae-lens SAE (``sae_compute_dtype``:
        see :class:`~splare_pyserini.modeling.sae_latents.SAELatents`)."""
        from sentence_transformers import SparseEncoder
        from sentence_transformers.sparse_encoder.modules import SpladePooling

        from splare_pyserini.modeling.backbone import CausalLMBackbone
        from splare_pyserini.modeling.sae_latents import SAELatents

        config = config or SplareConfig()
        sae = SAELatents(path=sae_path, release=sae_release, sae_id=sae_id, compute_dtype=sae_compute_dtype)
        _check_hook(sae.hook_name, layer)
        lm = CausalLMBackbone(backbone, layer=layer, max_seq_length=max_seq_length, torch_dtype=torch_dtype)
        if lm.hidden_size != sae.d_in:
            raise ValueError(
                f"SAE d_in={sae.d_in} does not match {backbone}'s hidden size {lm.hidden_size} at layer {layer}"
            )
        pooling = SpladePooling(pooling_strategy=config.pooling, activation_function="relu", embedding_dimension=sae.d_sae)
        encoder = SparseEncoder(modules=[lm, sae, pooling], device=device)
        return cls(encoder, config)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, device: str = "cpu") -> "SplareModel":
        """Load a saved model directory; ``None`` or ``"default"`` is the embedded default, and a packaged
        model can be named (``splare-gemma3-270m-zeroshot``: the SAE alone, no fine-tuning)."""
        from sentence_transformers import SparseEncoder

        folder = resolve_model_dir(path)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such model directory")
        for required in ("modules.json", SPLARE_CONFIG):
            if not (folder / required).exists():
                raise FileNotFoundError(f"{folder}: missing {required}; is this a splare-pyserini model directory?")
        config = SplareConfig.from_dict(json.loads((folder / SPLARE_CONFIG).read_text(encoding="utf-8")))
        # trust_remote_code: the module classes live in this package (splare_pyserini.*), not in ST.
        with quiet_loading.sparse_encoder_load():
            encoder = SparseEncoder(str(folder), device=device, local_files_only=True, trust_remote_code=True)
        model = cls(encoder, config, name_or_path=str(folder))
        model._check_consistency()
        return model

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write a directory that both :meth:`from_pretrained` and ``SparseEncoder(dir)`` open."""
        path = Path(path)
        self.encoder.save(str(path), create_model_card=False)
        (path / SPLARE_CONFIG).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n", encoding="utf-8")
        if self._latent_labels is not None:  # only labels loaded or set on this model travel with it
            self._latent_labels.save(path)

    def _check_consistency(self) -> None:
        if self.backbone.hidden_size != self.sae.d_in:
            raise ValueError(
                f"{self.name_or_path}: SAE d_in={self.sae.d_in} does not match the backbone hidden size "
                f"{self.backbone.hidden_size} at layer {self.backbone.layer}"
            )
        _check_hook(self.sae.hook_name, self.backbone.layer)

    @property
    def latent_labels(self):
        """The :class:`~splare_pyserini.modeling.latent_labels.LatentLabels` stored with the model
        (``latents.jsonl``, written by ``python -m splare_pyserini.label_latents``), or ``None``."""
        if self._latent_labels is None and self.name_or_path:
            from splare_pyserini.modeling.latent_labels import LatentLabels

            self._latent_labels = LatentLabels.load(self.name_or_path)
        return self._latent_labels

    @latent_labels.setter
    def latent_labels(self, labels) -> None:
        self._latent_labels = labels

    # -- parts ------------------------------------------------------------------------------
    @property
    def backbone(self):
        return self.encoder[0]

    @property
    def sae(self):
        return self.encoder[1]

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    # -- encoding ---------------------------------------------------------------------------
    @property
    def pooling(self):
        return self.encoder[2]

    def pooled(self, texts: Sequence[str]) -> torch.Tensor:
        """Pooled latent weights (batch x d_sae), before Top-K; one forward pass, no sorting.

        Outside training, SAE and pooling run fused (:mod:`~splare_pyserini.modeling.latent_pooling`: the
        same tensor, without the padded tokens x latents one)."""
        features = self.backbone.preprocess(list(texts))
        features = {k: v.to(self.device) for k, v in features.items()}
        if not self.encoder.training and len(self.encoder) == 3 and supports_fast_pooling(self.pooling):
            return pool_sae_latents(self.sae, self.pooling, self.backbone(features))
        return self.encoder.forward(features)["sentence_embedding"]

    def encode(
        self, texts: Sequence[str], kind: Kind = "document", batch_size: int = 16, top_k_override: int | None = None,
        progress: bool = False,
    ) -> list[dict[str, float]]:
        """Sparse float vectors ``{latent: weight}``, Top-K applied, in input order.

        Texts are sorted by token count before batching; outside training each text then runs
        through the backbone and the SAE alone (:meth:`CausalLMBackbone.forward`), so its vector is
        the same bits whatever its batch, neighbours or order.
        """
        k = top_k_override if top_k_override is not None else self.config.top_k_for(kind)
        lengths = self.backbone.token_lengths(list(texts)) if len(texts) > batch_size else [0] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: lengths[i], reverse=True)
        out: list[dict[str, float] | None] = [None] * len(texts)
        batches: Iterable[int] = range(0, len(order), batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc=f"encode {kind}s", unit="batch")
        stop = {latent_name(i) for i in self.config.stop_latents}
        self.encoder.eval()
        with torch.inference_mode():
            for start in batches:
                idx = order[start: start + batch_size]
                vectors = to_sparse_dicts(top_k(self.pooled([texts[i] for i in idx]), k))
                if stop:
                    vectors = [{n: w for n, w in v.items() if n not in stop} for v in vectors]
                for i, vector in zip(idx, vectors):
                    out[i] = vector
        return out  # type: ignore[return-value]

    def encode_impacts(self, texts: Sequence[str], kind: Kind = "document", batch_size: int = 16,
                       top_k_override: int | None = None) -> list[dict[str, int]]:
        """Integer impacts for Lucene, quantized with this model's scale."""
        return [quantize(v, self.config.quantization_scale)
                for v in self.encode(texts, kind, batch_size=batch_size, top_k_override=top_k_override)]


def _check_hook(hook_name: str | None, layer: int) -> None:
    """Refuse an SAE trained on another layer's residual stream (a silent quality killer)."""
    if hook_name and hook_name.startswith("blocks.") and hook_name.endswith("hook_resid_post"):
        sae_layer = int(hook_name.split(".")[1])
        if sae_layer != layer:
            raise ValueError(f"SAE was trained on {hook_name} but the backbone is cut at layer {layer}")
