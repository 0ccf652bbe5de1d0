"""SAE training stage (sae-lens TopK + whitening) on stored activations: it runs, checkpoints, and a
killed run resumes to the SAE an uninterrupted one trains."""
import json

import pytest
import torch

from splare_pyserini.training import sae as train_sae


def stored_activations(work, n_tokens=4096, d=32, dtype=torch.bfloat16):
    """Low-rank activations with one massive dimension, as Gemma's residual stream has."""
    g = torch.Generator().manual_seed(0)
    acts = torch.randn(n_tokens, 8, generator=g) @ torch.randn(8, d, generator=g)
    acts[:, 3] += 500.0
    folder = work / "acts" / "L0"
    folder.mkdir(parents=True)
    torch.save(acts[: n_tokens // 2].to(dtype), folder / "00000.pt")
    torch.save(acts[n_tokens // 2:].to(dtype), folder / "00001.pt")


def config(**overrides):
    values = dict(layers=[0], d_sae=64, k=4, batch_size=128, checkpoint_every_steps=5, store_dtype="bfloat16")
    return train_sae.SAETrainingConfig(**{**values, **overrides})


def test_training_writes_a_sae_lens_directory_and_metrics(tmp_path):
    from sae_lens import SAE

    stored_activations(tmp_path / "work")
    metrics = train_sae.train_layer(config(), tmp_path / "work", 0, tmp_path / "out" / "L0")
    assert SAE.load_from_disk(str(tmp_path / "out" / "L0")).cfg.d_sae == 64
    assert json.loads((tmp_path / "out" / "L0" / "training_log.json").read_text())["d_sae"] == 64
    assert metrics["massive_dims"][0] == 3
    assert 0 < metrics["explained_variance_without_massive_dims"] <= 1
    assert not (tmp_path / "out" / "L0.checkpoints").exists()  # optimizer states dropped once done


def test_a_killed_run_resumes_from_its_checkpoint_to_the_same_sae(tmp_path, monkeypatch):
    from safetensors.torch import load_file
    from sae_lens.training.sae_trainer import SAETrainer

    stored_activations(tmp_path / "work")
    train_sae.train_layer(config(), tmp_path / "work", 0, tmp_path / "whole" / "L0")

    original = SAETrainer._checkpoint_if_needed
    saved = []

    def kill_after_second_checkpoint(self):
        before = len(self.checkpoint_thresholds)
        original(self)
        saved.extend([self.n_training_samples] * (before - len(self.checkpoint_thresholds)))
        if len(saved) == 2:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(SAETrainer, "_checkpoint_if_needed", kill_after_second_checkpoint)
    with pytest.raises(KeyboardInterrupt):
        train_sae.train_layer(config(), tmp_path / "work", 0, tmp_path / "resumed" / "L0")
    assert train_sae.latest_checkpoint(tmp_path / "resumed" / "L0.checkpoints").name == str(saved[-1])
    monkeypatch.setattr(SAETrainer, "_checkpoint_if_needed", original)
    steps = []
    step = SAETrainer.step
    monkeypatch.setattr(SAETrainer, "step", lambda self, batch: steps.append(1) or step(self, batch))
    train_sae.train_layer(config(), tmp_path / "work", 0, tmp_path / "resumed" / "L0")
    total = -(-(4096 - 4096 // 10) // 128)  # sae-lens steps until the samples reach the total: ceil
    assert len(steps) == total - saved[-1] // 128  # only the steps after the checkpoint ran again
    whole = load_file(str(tmp_path / "whole" / "L0" / "sae_weights.safetensors"))
    resumed = load_file(str(tmp_path / "resumed" / "L0" / "sae_weights.safetensors"))
    assert whole.keys() == resumed.keys()
    for name in whole:
        torch.testing.assert_close(resumed[name], whole[name], rtol=0, atol=0, msg=name)
