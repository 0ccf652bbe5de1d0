"""Shared fixtures: the shared data folder (read in place), and tiny local stand-ins for
the backbone (a random 4-layer Gemma 3 with the real Gemma tokenizer) and the SAE (a real
sae-lens TopK SAE with random weights), built once per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPLARE_SHARED", REPO.parent / "shared"))
TINY_LAYER = 2


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run full-collection tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"shared data not found at {data} (set SPLARE_SHARED)")
    return data


def build_tiny_gemma(path: Path, layers: int = 4) -> Path:
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    from splare_pyserini.gguf_default import materialize_gemma3_270m

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


@pytest.fixture(scope="session")
def tiny_backbone_dir(tmp_path_factory) -> Path:
    return build_tiny_gemma(tmp_path_factory.mktemp("tiny-gemma"))


@pytest.fixture(scope="session")
def tiny_sae_dir(tmp_path_factory) -> Path:
    return build_tiny_sae(tmp_path_factory.mktemp("tiny-sae"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_backbone_dir, tiny_sae_dir) -> Path:
    from splare_pyserini.model import SplareConfig, SplareModel

    model = SplareModel.build(str(tiny_backbone_dir), TINY_LAYER, sae_path=str(tiny_sae_dir),
                              config=SplareConfig(query_top_k=8, doc_top_k=40))
    path = tmp_path_factory.mktemp("tiny-splare") / "model"
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from splare_pyserini.model import SplareModel

    return SplareModel.from_pretrained(tiny_model_dir)
