"""A frozen sae-lens SAE as a sentence-transformers module: token states -> SAE latents.

The SAE is a real ``sae_lens.SAE`` object, loaded from a local sae-lens directory
(``cfg.json`` + ``sae_weights.safetensors``) or from a sae-lens ``release``/``sae_id``
pair (Gemma Scope, Llama Scope: the hub path). It is never trained: its parameters have
``requires_grad=False`` and the module stays in eval mode.
"""
from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from sentence_transformers.base.modules.module import Module

from splare_pyserini.modeling.cpu_dtype import runtime_dtype as machine_dtype
from splare_pyserini.modeling.cpu_threads import default_workers, map_in_threads

logger = logging.getLogger(__name__)

SAE_CFG = "cfg.json"
SAE_WEIGHTS = "sae_weights.safetensors"
_COMPUTE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def load_sae(path: str | None = None, release: str | None = None, sae_id: str | None = None,
             dtype: str | None = None):
    """A sae-lens SAE from a local directory, or from ``release``/``sae_id`` through sae-lens' hub loader.

    ``dtype=None`` keeps the dtype the SAE was stored in (its ``cfg.json``)."""
    from sae_lens import SAE

    if path is not None:
        folder = Path(path)
        missing = [name for name in (SAE_CFG, SAE_WEIGHTS) if not (folder / name).exists()]
        if missing:
            raise FileNotFoundError(f"{folder}: not a sae-lens SAE directory (missing {', '.join(missing)})")
        return SAE.load_from_disk(str(folder), dtype=dtype)
    if release and sae_id:
        return SAE.from_pretrained(release, sae_id, dtype=dtype or "float32")
    raise ValueError("load_sae needs a local path, or both release and sae_id")


class SAELatents(Module):
    """Encode each token's hidden state with a frozen SAE (``sae.encode``) into ``d_sae`` latents.

    ``release``/``sae_id`` record where the SAE came from; the weights themselves are saved
    with the model in sae-lens' layout, so a saved model never needs the hub again.
    ``compute_dtype``: ``float32`` (default) or ``bfloat16`` (the SAE encoder ~2x faster on CPUs
    with bf16 matmuls; vectors change slightly, quality within noise: eval/results/encode-speed);
    the weights on disk keep their own dtype either way.
    """

    config_keys = ["release", "sae_id", "hook_name", "d_in", "d_sae", "compute_dtype"]

    def __init__(
        self,
        sae: Any | None = None,
        path: str | None = None,
        release: str | None = None,
        sae_id: str | None = None,
        hook_name: str | None = None,
        d_in: int | None = None,
        d_sae: int | None = None,
        compute_dtype: str = "float32",
    ) -> None:
        super().__init__()
        if compute_dtype not in _COMPUTE_DTYPES:
            raise ValueError(f"SAE compute_dtype={compute_dtype!r} is not one of {sorted(_COMPUTE_DTYPES)}")
        if sae is None:
            sae = load_sae(path=path, release=release, sae_id=sae_id)
        # Computed in float32 by default (Gemma's residual stream reaches ~1e5, beyond float16);
        # bfloat16 has float32's range, and its matmuls ran 2.3x faster here (AVX512-BF16). Stored as it came.
        self.storage_dtype = str(sae.cfg.dtype)
        self.compute_dtype = "float32"
        self._float32_state: dict[str, torch.Tensor] | None = None  # exact weights while computing in bf16
        sae = sae.to(dtype=torch.float32)
        sae.requires_grad_(False)
        sae.eval()
        self.sae = sae
        self.release = release
        self.sae_id = sae_id
        self.hook_name = hook_name or getattr(getattr(sae.cfg, "metadata", None), "hook_name", None)
        self.d_in = int(sae.cfg.d_in)
        self.d_sae = int(sae.cfg.d_sae)
        for key, expected, actual in (("d_in", d_in, self.d_in), ("d_sae", d_sae, self.d_sae)):
            if expected is not None and int(expected) != actual:
                raise ValueError(f"SAE {key}={actual} does not match the saved config's {key}={expected}")
        self.set_compute_dtype(compute_dtype)

    def _apply(self, fn, recurse: bool = True):
        """Device moves apply; dtype casts do not: sentence-transformers casts every module to the
        first module's dtype (bf16 backbones), but the SAE computes in ``compute_dtype``."""
        super()._apply(fn, recurse)
        dtype = self.runtime_dtype
        if any(p.dtype != dtype for p in self.sae.parameters()):
            self.sae.to(dtype=dtype)
        return self

    def set_compute_dtype(self, compute_dtype: str) -> None:
        """Compute the SAE in ``float32`` (exact default) or ``bfloat16`` (faster; changes vectors
        slightly: eval/results/encode-speed); saved with the model."""
        if compute_dtype not in _COMPUTE_DTYPES:
            raise ValueError(f"SAE compute_dtype={compute_dtype!r} is not one of {sorted(_COMPUTE_DTYPES)}")
        if compute_dtype == "float32" and self._float32_state is not None:
            self.sae.to(dtype=torch.float32)
            self.sae.load_state_dict(self._float32_state)  # the exact weights, not bf16 ones upcast
            self._float32_state = None
        elif machine_dtype(_COMPUTE_DTYPES[compute_dtype]) != torch.float32:
            if self._float32_state is None:
                self._float32_state = {k: v.detach().clone() for k, v in self.sae.state_dict().items()}
            self.sae.to(dtype=_COMPUTE_DTYPES[compute_dtype])
        self.compute_dtype = compute_dtype

    @property
    def runtime_dtype(self) -> torch.dtype:
        """What the SAE computes in on this machine (:mod:`~splare_pyserini.modeling.cpu_dtype`)."""
        return machine_dtype(_COMPUTE_DTYPES[self.compute_dtype])

    def train(self, mode: bool = True) -> "SAELatents":
        """The SAE stays frozen in eval mode whatever the trainer asks."""
        super().train(mode)
        self.sae.eval()
        return self

    def forward(self, features: dict[str, torch.Tensor], **kwargs: Any) -> dict[str, torch.Tensor]:
        hidden = features["token_embeddings"]
        if hidden.shape[-1] != self.d_in:
            raise ValueError(f"SAE expects d_in={self.d_in} but the backbone gives hidden size {hidden.shape[-1]}")
        mask = features.get("attention_mask")
        if mask is None:
            features["token_embeddings"] = self._encode(hidden).float()
            return features
        keep = mask.bool()
        latents = hidden.new_zeros(*hidden.shape[:-1], self.d_sae, dtype=torch.float32)
        latents[keep] = self.encode_kept(hidden, keep).float()
        features["token_embeddings"] = latents
        return features

    def encode_kept(self, hidden: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """SAE latents (in the compute dtype) of the kept tokens only (``keep``: batch x tokens,
        bool), one row per kept token in batch-major order, so text ``i``'s rows are contiguous.
        Padding and BOS were ~30% of a length-sorted Medline batch; they are never encoded.
        Each text's rows go through the SAE in their own matmul (see :meth:`encode_each_text`)."""
        return torch.cat(self.encode_each_text(hidden, keep))

    def encode_kept_sparse(self, hidden: torch.Tensor, keep: torch.Tensor) -> list[torch.Tensor] | None:
        """:meth:`encode_kept` per text, as sparse COO tensors (kept tokens x d_sae), for a TopK SAE
        (through sae-lens' own ``use_sparse_activations``: no dense output); ``None`` for other SAEs."""
        if not self.is_topk:
            return None
        with self.sparse_activations(), torch.sparse.check_sparse_tensor_invariants(enable=False):
            return self.encode_each_text(hidden, keep)  # sae-lens builds valid indices: no check

    @property
    def is_topk(self) -> bool:
        from sae_lens.saes.topk_sae import TopK

        return isinstance(getattr(self.sae, "activation_fn", None), TopK)

    @contextmanager
    def sparse_activations(self) -> Iterator[None]:
        """A TopK SAE returns sparse latents inside the block, its own flag back after it. The flag
        is shared by every thread: one caller entering it around concurrent encodes keeps their
        nested entries from switching it off under each other."""
        if not self.is_topk:
            yield
            return
        activation = self.sae.activation_fn
        was_sparse = activation.use_sparse_activations
        activation.use_sparse_activations = True
        try:
            yield
        finally:
            activation.use_sparse_activations = was_sparse

    def encode_each_text(self, hidden: torch.Tensor, keep: torch.Tensor) -> list[torch.Tensor]:
        """``sae.encode`` of each text's kept rows alone: a matmul's rounding can depend on how many
        rows it is given, so one text's latents must not depend on the others' token counts. The
        texts run concurrently, each matmul on one thread (:mod:`~splare_pyserini.modeling.cpu_threads`)."""
        return list(map_in_threads(lambda pair: self._encode(pair[0][pair[1]]), zip(hidden, keep),
                                   default_workers(hidden.device)))

    def _encode(self, hidden: torch.Tensor) -> torch.Tensor:
        """``sae.encode`` in the compute dtype, latents returned in it too (callers cast what they keep)."""
        return self.sae.encode(hidden.to(self.runtime_dtype))

    def get_embedding_dimension(self) -> int:
        return self.d_sae

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        """``config.json`` for this module, the SAE itself in sae-lens' own files beside it."""
        os.makedirs(output_path, exist_ok=True)
        self.save_config(output_path)
        compute_dtype = self.compute_dtype
        self.set_compute_dtype("float32")  # float32 holds the stored weights exactly
        cfg_dtype = self.sae.cfg.dtype
        try:
            self.sae.to(dtype=getattr(torch, self.storage_dtype.removeprefix("torch.")))
            self.sae.cfg.dtype = self.storage_dtype
            self.sae.save_model(output_path)
        finally:
            self.sae.to(dtype=torch.float32)
            self.sae.cfg.dtype = cfg_dtype
            self.set_compute_dtype(compute_dtype)

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs: Any) -> "SAELatents":
        folder = Path(model_name_or_path, subfolder)
        config_path = folder / cls.config_file_name
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
        if (folder / SAE_CFG).exists():
            return cls(path=str(folder), **config)
        if config.get("release") and config.get("sae_id"):
            return cls(**config)
        raise FileNotFoundError(
            f"{folder}: missing the SAE ({SAE_CFG} + {SAE_WEIGHTS}) and no sae-lens release/sae_id in {config_path}"
        )
