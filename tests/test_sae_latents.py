"""The SAE is a real sae-lens object: local directory and release/id (hub) loading, frozen."""
import os
import shutil
import subprocess
import sys

import pytest
import torch
from sae_lens import SAE

from splare_pyserini.sae_latents import SAELatents, load_sae

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_local_directory_loads_a_sae_lens_sae(tiny_sae_dir):
    module = SAELatents(path=str(tiny_sae_dir))
    assert isinstance(module.sae, SAE)
    assert (module.d_in, module.d_sae) == (64, 512)
    assert module.hook_name == "blocks.2.hook_resid_post"


def test_sae_is_frozen_and_stays_in_eval_mode(tiny_sae_dir):
    module = SAELatents(path=str(tiny_sae_dir))
    module.train()
    assert not module.sae.training
    assert all(not p.requires_grad for p in module.parameters())


def test_forward_is_sae_encode(tiny_sae_dir):
    module = SAELatents(path=str(tiny_sae_dir))
    x = torch.randn(2, 5, 64)
    out = module({"token_embeddings": x.clone()})["token_embeddings"]
    torch.testing.assert_close(out, module.sae.encode(x))
    with pytest.raises(ValueError, match="d_in=64"):
        module({"token_embeddings": torch.randn(1, 2, 32)})


def test_missing_files_name_the_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a sae-lens SAE directory"):
        load_sae(path=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="missing the SAE"):
        SAELatents.load(str(tmp_path))


def test_release_and_sae_id_go_through_sae_lens_hub_loader_offline(tmp_path, tiny_sae_dir):
    """The path users with internet take (Gemma Scope, Llama Scope), served from a local HF cache."""
    repo = tmp_path / "hub" / "models--local-org--tiny-sae"
    folder = repo / "snapshots" / COMMIT / "blocks.2.hook_resid_post"
    shutil.copytree(tiny_sae_dir, folder)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    code = (
        "from splare_pyserini.sae_latents import SAELatents;"
        "m = SAELatents(release='local-org/tiny-sae', sae_id='blocks.2.hook_resid_post');"
        "print(m.d_in, m.d_sae, type(m.sae).__name__)"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["64", "512", "TopKSAE"]


def test_storage_dtype_is_kept_on_save_while_computing_in_float32(tmp_path):
    import json

    from splare_pyserini.stand_ins import build_tiny_sae

    src = build_tiny_sae(tmp_path / "src")
    cfg = json.loads((src / "cfg.json").read_text())
    cfg["dtype"] = "float16"
    (src / "cfg.json").write_text(json.dumps(cfg))
    module = SAELatents(path=str(src))
    assert next(module.sae.parameters()).dtype == torch.float32
    module.save(str(tmp_path / "saved"))
    assert json.loads((tmp_path / "saved" / "cfg.json").read_text())["dtype"] == "float16"
    x = torch.randn(1, 3, 64)
    again = SAELatents.load(str(tmp_path / "saved"))
    torch.testing.assert_close(again({"token_embeddings": x})["token_embeddings"], module({"token_embeddings": x})["token_embeddings"])
