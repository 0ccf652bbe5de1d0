"""Tiny local stand-ins for the machinery's tests and benchmarks (not for retrieval quality).

A random 4-layer Gemma 3 (hidden size 64) with the real Gemma tokenizer, and a real sae-lens
TopK SAE with random weights (512 latents) on its layer-2 residual stream. Seeded: the same
files every time. ``eval/tiny_model.py`` assembles them into a SPLARE model directory.
"""
from __future__ import annotations

from pathlib import Path

import torch

TINY_LAYER = 2


def build_tiny_gemma(path: Path, layers: int = 4) -> Path:
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    from splare_pyserini.modeling.gguf_default import materialize_gemma3_270m

    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=262144, hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
        num_attention_heads=2, num_key_value_heads=1, head_dim=32, sliding_window=16,
        bos_token_id=2, eos_token_id=1, pad_token_id=0,
    )
    model = Gemma3ForCausalLM(config)
    model.save_pretrained(path)
    AutoTokenizer.from_pretrained(materialize_gemma3_270m()).save_pretrained(path)
    return path


def build_tiny_sae(path: Path, d_in: int = 64, d_sae: int = 512, k: int = 32, layer: int = TINY_LAYER) -> Path:
    from sae_lens.saes.topk_sae import TopKSAE, TopKSAEConfig

    torch.manual_seed(1)
    cfg = TopKSAEConfig(d_in=d_in, d_sae=d_sae, k=k)
    cfg.metadata.hook_name = f"blocks.{layer}.hook_resid_post"
    sae = TopKSAE(cfg)
    with torch.no_grad():
        for param in sae.parameters():
            param.normal_(0, 0.1)
    sae.save_model(path)
    return path


def build_tiny_bert_mlm(path: Path) -> Path:
    """A 2-layer BertForMaskedLM with a character word-piece vocabulary: a stand-in for SPLADE-tiny."""
    import string

    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    chars = string.ascii_lowercase + string.digits
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars), *string.punctuation]
    BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}).save_pretrained(path)
    torch.manual_seed(2)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertForMaskedLM(config).save_pretrained(path)
    return path
