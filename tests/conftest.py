"""Shared fixtures: the shared data folder (read in place), and tiny local stand-ins for
the backbone (a random 4-layer Gemma 3 with the real Gemma tokenizer) and the SAE (a real
sae-lens TopK SAE with random weights), built once per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from splare_pyserini.modeling.stand_ins import TINY_LAYER, build_tiny_gemma, build_tiny_sae

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SPLARE_SHARED", REPO.parent / "shared"))


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


@pytest.fixture(scope="session")
def tiny_backbone_dir(tmp_path_factory) -> Path:
    return build_tiny_gemma(tmp_path_factory.mktemp("tiny-gemma"))


@pytest.fixture(scope="session")
def tiny_sae_dir(tmp_path_factory) -> Path:
    return build_tiny_sae(tmp_path_factory.mktemp("tiny-sae"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_backbone_dir, tiny_sae_dir) -> Path:
    from splare_pyserini.modeling.model import SplareConfig, SplareModel

    model = SplareModel.build(str(tiny_backbone_dir), TINY_LAYER, sae_path=str(tiny_sae_dir),
                              config=SplareConfig(query_top_k=8, doc_top_k=40))
    path = tmp_path_factory.mktemp("tiny-splare") / "model"
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    from splare_pyserini.modeling.model import SplareModel

    return SplareModel.from_pretrained(tiny_model_dir)


@pytest.fixture
def bf16_cpu(monkeypatch):
    """Tests of the bfloat16 path compute in bfloat16 whatever this CPU multiplies natively
    (without AVX512-BF16/AMX a bf16 model would otherwise run in float32: modeling/cpu_dtype.py)."""
    from splare_pyserini.modeling import cpu_dtype

    monkeypatch.setattr(cpu_dtype, "cpu_multiplies_bf16", lambda: True)
