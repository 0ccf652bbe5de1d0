"""The SAE is a real sae-lens object: local directory and release/id (hub) loading, frozen."""
import os
import shutil
import subprocess
import sys

import pytest
import torch
from sae_lens import SAE

from splare_pyserini.modeling.sae_latents import SAELatents, load_sae

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
        "from splare_pyserini.modeling.sae_latents import SAELatents;"
        "m = SAELatents(release='local-org/tiny-sae', sae_id='blocks.2.hook_resid_post');"
        "print(m.d_in, m.d_sae, type(m.sae).__name__)"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["64", "512", "TopKSAE"]


def test_storage_dtype_is_kept_on_save_while_computing_in_float32(tmp_path):
    import json

    from splare_pyserini.modeling.stand_ins import build_tiny_sae

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


def test_bfloat16_compute_is_saved_survives_casts_and_stays_close_to_float32(tmp_path, tiny_sae_dir, bf16_cpu):
    """``compute_dtype="bfloat16"`` (the faster opt-in): the weights on disk keep their storage dtype,
    the setting travels in the module config, sentence-transformers' dtype casts do not undo it,
    latents come back as float32 and near the float32 ones."""
    import json

    exact = SAELatents(path=str(tiny_sae_dir))
    fast = SAELatents(path=str(tiny_sae_dir), compute_dtype="bfloat16")
    assert next(fast.sae.parameters()).dtype == torch.bfloat16
    fast.to(torch.float32)  # what sentence-transformers does to every module after the backbone's
    assert next(fast.sae.parameters()).dtype == torch.bfloat16
    x = torch.randn(2, 5, 64)
    out, ref = fast({"token_embeddings": x.clone()})["token_embeddings"], exact({"token_embeddings": x.clone()})["token_embeddings"]
    assert out.dtype == torch.float32 and not torch.equal(out, ref)
    assert ((out > 0) == (ref > 0)).float().mean() > 0.95  # almost the same active latents
    torch.testing.assert_close(out[(out > 0) & (ref > 0)], ref[(out > 0) & (ref > 0)], rtol=0.05, atol=0.05)
    fast.save(str(tmp_path / "saved"))
    assert json.loads((tmp_path / "saved" / "config.json").read_text())["compute_dtype"] == "bfloat16"
    from safetensors.torch import load_file

    saved, original = load_file(tmp_path / "saved" / "sae_weights.safetensors"), load_file(tiny_sae_dir / "sae_weights.safetensors")
    assert saved.keys() == original.keys() and all(torch.equal(saved[k], original[k]) for k in saved)
    again = SAELatents.load(str(tmp_path / "saved"))
    assert again.compute_dtype == "bfloat16"
    assert torch.equal(again({"token_embeddings": x.clone()})["token_embeddings"], out)
    again.set_compute_dtype("float32")
    assert torch.equal(again({"token_embeddings": x.clone()})["token_embeddings"], ref)
    with pytest.raises(ValueError, match="compute_dtype='float16'"):
        SAELatents(path=str(tiny_sae_dir), compute_dtype="float16")


def test_sparse_topk_output_is_the_dense_one_and_leaves_the_sae_as_it_was(tiny_sae_dir):
    module = SAELatents(path=str(tiny_sae_dir))
    hidden, keep = torch.randn(2, 5, 64), torch.tensor([[0, 1, 1, 1, 0], [0, 1, 1, 0, 0]], dtype=torch.bool)
    sparse = module.encode_kept_sparse(hidden, keep)  # one sparse tensor per text
    assert all(s.is_sparse for s in sparse) and [s.shape for s in sparse] == [(int(n), 512) for n in keep.sum(1)]
    assert sum(s.shape[0] for s in sparse) == 5
    assert torch.equal(torch.cat([s.to_dense() for s in sparse]), module.encode_kept(hidden, keep))
    assert module.sae.activation_fn.use_sparse_activations is False  # the flag is put back


def test_other_architectures_have_no_sparse_output(tmp_path):
    from sae_lens.saes.jumprelu_sae import JumpReLUSAE, JumpReLUSAEConfig

    module = SAELatents(sae=JumpReLUSAE(JumpReLUSAEConfig(d_in=8, d_sae=16)))
    assert module.encode_kept_sparse(torch.randn(1, 3, 8), torch.ones(1, 3, dtype=torch.bool)) is None
