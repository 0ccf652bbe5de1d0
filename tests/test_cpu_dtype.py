"""bfloat16 models compute in float32 on x86 CPUs without bf16 matrix instructions."""
import torch

from splare_pyserini.modeling import cpu_dtype
from splare_pyserini.modeling.model import SplareModel
from splare_pyserini.modeling.stand_ins import TINY_LAYER

TEXTS = ["a lens focuses light onto the retina", "glaciers carve valleys"]


def test_bfloat16_runs_as_float32_only_without_bf16_instructions(monkeypatch):
    monkeypatch.delenv(cpu_dtype.FORCE_BF16_ENV, raising=False)
    monkeypatch.setattr(cpu_dtype, "cpu_multiplies_bf16", lambda: False)
    assert cpu_dtype.runtime_dtype(torch.bfloat16) is torch.float32
    assert cpu_dtype.runtime_dtype(torch.float16) is torch.float16  # only bfloat16 is redirected
    assert cpu_dtype.runtime_dtype(torch.float32) is torch.float32
    monkeypatch.setenv(cpu_dtype.FORCE_BF16_ENV, "1")
    assert cpu_dtype.runtime_dtype(torch.bfloat16) is torch.bfloat16  # the user's override
    monkeypatch.delenv(cpu_dtype.FORCE_BF16_ENV)
    monkeypatch.setattr(cpu_dtype, "cpu_multiplies_bf16", lambda: True)
    assert cpu_dtype.runtime_dtype(torch.bfloat16) is torch.bfloat16


def test_a_bfloat16_model_gives_the_float32_models_vectors_and_stays_bfloat16_when_saved(
        monkeypatch, tmp_path, tiny_backbone_dir, tiny_sae_dir):
    monkeypatch.delenv(cpu_dtype.FORCE_BF16_ENV, raising=False)
    monkeypatch.setattr(cpu_dtype, "cpu_multiplies_bf16", lambda: False)
    kwargs = dict(sae_path=str(tiny_sae_dir), max_seq_length=64)
    bf16 = SplareModel.build(str(tiny_backbone_dir), TINY_LAYER, torch_dtype="bfloat16", sae_compute_dtype="bfloat16", **kwargs)
    fp32 = SplareModel.build(str(tiny_backbone_dir), TINY_LAYER, torch_dtype="float32", **kwargs)
    assert {p.dtype for p in bf16.backbone.model.parameters()} == {torch.float32}
    assert {p.dtype for p in bf16.sae.sae.parameters()} == {torch.float32}
    assert bf16.encode(TEXTS) == fp32.encode(TEXTS)
    bf16.save_pretrained(tmp_path / "m")
    reloaded = SplareModel.from_pretrained(tmp_path / "m")
    assert (reloaded.backbone.torch_dtype, reloaded.sae.compute_dtype) == ("bfloat16", "bfloat16")  # config as given
    assert reloaded.encode(TEXTS) == fp32.encode(TEXTS)
    monkeypatch.setattr(cpu_dtype, "cpu_multiplies_bf16", lambda: True)  # a bf16 CPU computes in bf16
    assert {p.dtype for p in SplareModel.from_pretrained(tmp_path / "m").backbone.model.parameters()} == {torch.bfloat16}
