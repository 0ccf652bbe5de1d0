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
from pathlib import Path
from typing import Any

import torch
from sentence_transformers.base.modules.module import Module

logger = logging.getLogger(__name__)

SAE_CFG = "cfg.json"
SAE_WEIGHTS = "sae_weights.safetensors"


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
    """

    config_keys = ["release", "sae_id", "hook_name", "d_in", "d_sae"]

    def __init__(
        self,
        sae: Any | None = None,
        path: str | None = None,
        release: str | None = None,
        sae_id: str | None = None,
        hook_name: str | None = None,
        d_in: int | None = None,
        d_sae: int | None = None,
    ) -> None:
        super().__init__()
        if sae is None:
            sae = load_sae(path=path, release=release, sae_id=sae_id)
        # Computed in float32 (Gemma's residual stream reaches ~1e5, beyond float16), stored as it came.
        self.storage_dtype = str(sae.cfg.dtype)
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

    def _apply(self, fn, recurse: bool = True):
        """Device moves apply; dtype casts do not: sentence-transformers casts every module to the
        first module's dtype (bf16 backbones), but the SAE must see float32 activations."""
        super()._apply(fn, recurse)
        if any(p.dtype != torch.float32 for p in self.sae.parameters()):
            self.sae.to(dtype=torch.float32)
        return self

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
            features["token_embeddings"] = self.sae.encode(hidden.float())
            return features
        # Only the tokens that will be pooled are encoded (padding and BOS were ~30% of a
        # length-sorted Medline batch); the others stay 0, which pooling ignores anyway.
        keep = mask.bool()
        latents = hidden.new_zeros(*hidden.shape[:-1], self.d_sae, dtype=torch.float32)
        latents[keep] = self.sae.encode(hidden[keep].float())
        features["token_embeddings"] = latents
        return features

    def get_embedding_dimension(self) -> int:
        return self.d_sae

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        """``config.json`` for this module, the SAE itself in sae-lens' own files beside it."""
        os.makedirs(output_path, exist_ok=True)
        self.save_config(output_path)
        compute_dtype = self.sae.cfg.dtype
        try:
            self.sae.to(dtype=getattr(torch, self.storage_dtype.removeprefix("torch.")))
            self.sae.cfg.dtype = self.storage_dtype
            self.sae.save_model(output_path)
        finally:
            self.sae.to(dtype=torch.float32)
            self.sae.cfg.dtype = compute_dtype

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
