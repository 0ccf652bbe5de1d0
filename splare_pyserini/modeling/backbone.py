"""A Hugging Face causal LM cut at layer *l*: the residual stream SPLARE's SAE reads.

Layer numbering follows sae-lens: ``layer=L`` is ``blocks.L.hook_resid_post``, the output
of decoder layer ``L`` (0-based), which is ``hidden_states[L + 1]`` of the full Hugging
Face model. Layers after ``L`` are not built at all (the config is truncated before the
weights load), and the LM head is never built either.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from sentence_transformers.base.modules.input_module import InputModule

from splare_pyserini.modeling.cpu_threads import default_workers, map_in_threads, thread_local_list
from splare_pyserini.modeling.gguf_default import resolve_backbone_path
from splare_pyserini.modeling import quiet_loading
from splare_pyserini.modeling.cpu_dtype import runtime_dtype

logger = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
ADAPTER_CONFIG = "adapter_config.json"
MAX_CHARS_PER_TOKEN = 32


def decoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList:
    """The list of decoder blocks of a Hugging Face base model (Llama/Gemma/Qwen, GPT-2, OPT)."""
    for path in ("layers", "h", "decoder.layers", "model.layers"):
        node: Any = model
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                break
        if isinstance(node, torch.nn.ModuleList):
            return node
    raise ValueError(f"Cannot find the decoder layers of {type(model).__name__}")


def truncated_config(model_name_or_path: str, layer: int, **config_kwargs: Any):
    """The model's config with only layers ``0..layer`` (inclusive) kept."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_name_or_path, **config_kwargs)
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    n_layers = text_config.num_hidden_layers
    if not 0 <= layer < n_layers:
        raise ValueError(
            f"layer={layer} is out of range for {model_name_or_path}: it has {n_layers} decoder layers "
            f"(valid layers: 0..{n_layers - 1}, numbered as sae-lens' blocks.L.hook_resid_post)"
        )
    # Per-layer lists (e.g. Gemma 3's sliding/full ``layer_types``) must shrink with the depth.
    for key, value in list(vars(text_config).items()):
        if isinstance(value, list) and len(value) == n_layers and key != "architectures":
            setattr(text_config, key, value[: layer + 1])
    text_config.num_hidden_layers = layer + 1
    return config


class CausalLMBackbone(InputModule):
    """Tokenize text and return the residual stream after decoder layer ``layer``.

    Output features: ``token_embeddings`` (float32, batch x tokens x hidden) and
    ``attention_mask`` restricted to the tokens that should be pooled (padding and, with
    ``exclude_bos``, the BOS token are 0: BOS carries Gemma's massive activations and is
    the same for every text). Padding is always on the right, and outside training each text
    runs alone at its own length, so a text's states are the same bits whatever batch it is in.
    """

    config_keys = ["model_name_or_path", "layer", "max_seq_length", "torch_dtype", "exclude_bos", "bidirectional"]
    save_in_root = False

    def __init__(
        self,
        model_name_or_path: str,
        layer: int,
        max_seq_length: int = 512,
        torch_dtype: str = "float32",
        exclude_bos: bool = True,
        bidirectional: bool = False,
        model: torch.nn.Module | None = None,
        tokenizer: Any | None = None,
    ) -> None:
        super().__init__()
        if torch_dtype not in _DTYPES:
            raise ValueError(f"torch_dtype={torch_dtype!r} is not one of {sorted(_DTYPES)}")
        if max_seq_length < 2:
            raise ValueError(f"max_seq_length={max_seq_length} must be at least 2")
        self.model_name_or_path = model_name_or_path
        self.layer = int(layer)
        self.max_seq_length = int(max_seq_length)
        self.torch_dtype = torch_dtype
        self.exclude_bos = bool(exclude_bos)
        if model is None or tokenizer is None:
            model, tokenizer = self._load_truncated(model_name_or_path, self.layer, runtime_dtype(_DTYPES[torch_dtype]))
        self.model = model
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "right"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._captured: dict[int, list[torch.Tensor]] = {}  # per thread: texts may be encoded concurrently
        self._adapter_source: Path | None = None  # the folder an inference adapter was loaded from
        self._hook = decoder_layers(self.model)[self.layer].register_forward_hook(self._capture)
        self.bidirectional = False
        if bidirectional:
            self.set_bidirectional(True)

    def set_bidirectional(self, flag: bool) -> None:
        """Attend to both sides (no causal mask), for architectures with a switch for it (Gemma 3's
        ``use_bidirectional_attention``, as EmbeddingGemma); saved in the module config."""
        config = self.model.config
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        if not hasattr(text_config, "use_bidirectional_attention"):
            raise ValueError(f"{self.model_name_or_path}: {type(text_config).__name__} has no "
                             "use_bidirectional_attention switch; bidirectional attention is not available")
        text_config.use_bidirectional_attention = bool(flag)
        for module in self.model.modules():  # attention modules read is_causal at construction
            if hasattr(module, "is_causal") and hasattr(module, "layer_idx"):
                module.is_causal = not flag
        self.bidirectional = bool(flag)

    @staticmethod
    def _load_truncated(model_name_or_path: str, layer: int, dtype: torch.dtype):
        from transformers import AutoModel, AutoTokenizer

        local_path = resolve_backbone_path(model_name_or_path)
        config = truncated_config(local_path, layer)
        with quiet_loading.truncated_load(layer):
            model = AutoModel.from_pretrained(local_path, config=config, dtype=dtype)
        model.eval()
        tokenizer = AutoTokenizer.from_pretrained(local_path)
        return model, tokenizer

    def _capture(self, module: torch.nn.Module, inputs: Any, output: Any) -> None:
        thread_local_list(self._captured).append(output[0] if isinstance(output, tuple) else output)

    @property
    def hidden_size(self) -> int:
        config = self.model.config
        return (config.get_text_config() if hasattr(config, "get_text_config") else config).hidden_size

    def preprocess(self, inputs: list[str], prompt: str | None = None, max_length: int | None = None,
                   **kwargs: Any) -> dict[str, torch.Tensor]:
        """Tokenize with right padding; ``max_length`` (a training collator's override) caps below
        ``max_seq_length``; ``return_offsets_mapping=True`` adds each token's character span
        (``offset_mapping``, for explanations; drop it before :meth:`forward`)."""
        texts = [prompt + t for t in inputs] if prompt else list(inputs)
        max_length = min(max_length or self.max_seq_length, self.max_seq_length)
        # A huge document is cut before tokenization too: only max_length tokens are read anyway.
        max_chars = max_length * MAX_CHARS_PER_TOKEN
        texts = [t[:max_chars] for t in texts]
        return dict(
            self.tokenizer(
                texts,
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
                return_offsets_mapping=bool(kwargs.get("return_offsets_mapping", False)),
            )
        )

    def token_lengths(self, texts: list[str]) -> list[int]:
        """Tokens each text takes in :meth:`preprocess` (truncated the same way), to batch texts of
        equal length: in the encode CLI's 256-document windows, 18.9% of Medline's batched tokens
        were padding when sorted by characters, 7.4% sorted by tokens."""
        max_chars = self.max_seq_length * MAX_CHARS_PER_TOKEN
        encoded = self.tokenizer([t[:max_chars] for t in texts], truncation=True, max_length=self.max_seq_length)
        return [len(ids) for ids in encoded["input_ids"]]

    def forward(self, features: dict[str, torch.Tensor], **kwargs: Any) -> dict[str, torch.Tensor]:
        """Residual stream after layer ``layer``. Outside training each text runs alone at its own
        length (:meth:`_run_each`), so its hidden states do not depend on its batch; training runs
        the padded batch in one call (gradients need no such invariance)."""
        attention_mask = features["attention_mask"]
        if self.training:
            hidden = self._run(features["input_ids"], attention_mask)
        else:
            hidden = self._run_each(features["input_ids"], attention_mask)
        pool_mask = attention_mask.clone()
        bos = self.tokenizer.bos_token_id
        if self.exclude_bos and bos is not None:
            pool_mask[:, 0] = torch.where(features["input_ids"][:, 0] == bos, 0, pool_mask[:, 0])
        features["token_embeddings"] = hidden.float()
        features["attention_mask"] = pool_mask
        return features

    def _run(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        captured = thread_local_list(self._captured)
        captured.clear()
        self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        hidden = captured.pop()
        captured.clear()
        return hidden

    def _run_each(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """One forward per text over its own tokens only (right padding: the first ``n`` positions),
        zeros at the padding. A batched bf16 forward rounds a text's states differently with its
        batch's shape (matmul blocking, padded attention), and Top-K then turns that noise into other
        latents: 16 of 30 Medline queries changed between batch sizes 1 and 16. Alone, every matmul
        and attention call has a shape fixed by the text itself, and so has its result. The texts run
        concurrently, one thread each (:mod:`~splare_pyserini.modeling.cpu_threads`): a kernel split across
        threads would round by the thread count."""
        rows = [(row, n) for row, n in enumerate(attention_mask.sum(dim=1).tolist()) if n]
        states = map_in_threads(lambda row_n: self._run(input_ids[row_n[0]: row_n[0] + 1, : row_n[1]],
                                                        attention_mask[row_n[0]: row_n[0] + 1, : row_n[1]]),
                                rows, default_workers(input_ids.device))
        out: torch.Tensor | None = None
        for (row, n), hidden in zip(rows, states):
            if out is None:
                out = hidden.new_zeros(input_ids.shape[0], input_ids.shape[1], hidden.shape[-1])
            out[row, :n] = hidden[0]
        if out is None:  # only empty texts: nothing to run
            out = torch.zeros(*input_ids.shape, self.hidden_size, device=input_ids.device)
        return out

    def get_embedding_dimension(self) -> int:
        return self.hidden_size

    # -- LoRA (peft) ---------------------------------------------------------------------
    def add_lora(self, lora_config) -> None:
        """Wrap the backbone with a peft LoRA adapter (peft's own ``get_peft_model``; transformers
        5.24's built-in adapter API needs peft >= 0.22, which is not released)."""
        from peft import get_peft_model

        if self.has_adapter():
            raise ValueError("the backbone already has a LoRA adapter")
        with quiet_loading.peft_calls():
            self.model = get_peft_model(self.model, lora_config)

    def enable_gradient_checkpointing(self) -> None:
        """Recompute activations in the backward pass (less memory, ~30% more time)."""
        base = self.model.get_base_model() if self.has_adapter() else self.model
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        base.config.use_cache = False

    def has_adapter(self) -> bool:
        from peft import PeftModel

        return isinstance(self.model, PeftModel)

    # -- save / load ----------------------------------------------------------------------

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        """The config; the backbone's weights and tokenizer are referenced by ``model_name_or_path``
        (a hub id, a local directory or the embedded GGUF default: Gemma's tokenizer alone is
        33 MB), and a peft LoRA adapter, when present, is saved here (``adapter_config.json``)."""
        os.makedirs(output_path, exist_ok=True)
        self.save_config(output_path)
        if self.has_adapter():
            source = self._adapter_source
            if source is not None and not any(p.requires_grad for p in self.model.parameters()):
                # loaded for inference (adapter cast to the backbone's dtype) and frozen since:
                # the stored full-precision files, as they were
                if Path(source).resolve() != Path(output_path).resolve():
                    for file in Path(source).glob("adapter_*"):
                        shutil.copyfile(file, Path(output_path) / file.name)
            else:
                self.model.save_pretrained(output_path, safe_serialization=safe_serialization)

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs: Any) -> "CausalLMBackbone":
        folder = Path(model_name_or_path, subfolder)
        config_path = folder / cls.config_file_name
        if not config_path.exists():
            raise FileNotFoundError(f"{config_path}: missing backbone config (expected keys {cls.config_keys})")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        unknown = set(config) - set(cls.config_keys)
        if unknown or "model_name_or_path" not in config or "layer" not in config:
            raise ValueError(f"{config_path}: bad keys {sorted(unknown) or ''}; required: model_name_or_path, layer")
        module = cls(**config)
        if (folder / ADAPTER_CONFIG).exists():
            from peft import PeftModel

            # peft would upcast the adapter to float32: x is then cast to float32 and back around
            # every one of the 49 LoRA layers; in the backbone's dtype they cost half the encode
            # time less (eval/results/encode-speed). A re-saved adapter keeps the full-precision file.
            with quiet_loading.peft_calls():
                module.model = PeftModel.from_pretrained(module.model, str(folder), autocast_adapter_dtype=False)
            module.model.eval()
            module._adapter_source = folder
            module.model.to(runtime_dtype(_DTYPES[module.torch_dtype]))
        return module
