"""SPLARE model: composition with sentence-transformers, save/load, determinism, batching."""
import json

import pytest
import torch
from safetensors.torch import load_file

from splare_pyserini.modeling.model import SplareConfig, SplareModel, default_model_dir

TEXTS = [
    "Sparse autoencoders find interpretable features in language models.",
    "BM25 is a strong lexical baseline.",
    "",
    "Le chat est sur la table.",
    "كيف حالك",
]


def test_vectors_respect_top_k_and_are_positive(tiny_model):
    docs = tiny_model.encode(TEXTS, "document")
    queries = tiny_model.encode(TEXTS, "query")
    assert all(len(v) <= 40 for v in docs) and all(len(v) <= 8 for v in queries)
    assert all(w > 0 for v in docs for w in v.values())
    assert docs[2] == {}  # empty text: nothing to pool (the writer adds a placeholder)


def test_same_text_same_vector(tiny_model):
    assert tiny_model.encode_impacts(TEXTS, "document") == tiny_model.encode_impacts(TEXTS, "document")


def test_query_alone_equals_query_in_a_padded_batch(tiny_model):
    batch = tiny_model.encode(TEXTS, "query", batch_size=len(TEXTS))
    for text, batched in zip(TEXTS, batch):
        alone = tiny_model.encode([text], "query")[0]
        assert alone.keys() == batched.keys()
        for key in alone:
            assert alone[key] == pytest.approx(batched[key], rel=1e-4, abs=1e-5)


def test_save_load_round_trip_gives_identical_vectors(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path / "copy")
    reloaded = SplareModel.from_pretrained(tmp_path / "copy")
    assert reloaded.config == tiny_model.config
    assert reloaded.encode_impacts(TEXTS, "document") == tiny_model.encode_impacts(TEXTS, "document")
    files = {p.name for p in (tmp_path / "copy").rglob("*")}
    assert {"modules.json", "splare_config.json", "cfg.json", "sae_weights.safetensors"} <= files


def test_sentence_transformers_sparse_encoder_opens_the_directory(tiny_model_dir, tiny_model):
    from sentence_transformers import SparseEncoder

    st_model = SparseEncoder(str(tiny_model_dir), trust_remote_code=True)
    dense = st_model.encode(TEXTS[:2], convert_to_tensor=True)
    dense = dense.to_dense() if dense.is_sparse else dense
    with torch.inference_mode():
        torch.testing.assert_close(dense, tiny_model.pooled(TEXTS[:2]))


@pytest.mark.parametrize("sae_dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("strategy,topk_sparse", [("max", True), ("max", False), ("sum", False)])
def test_fused_sae_pooling_equals_the_module_pipeline_bit_for_bit(tiny_model, strategy, topk_sparse, sae_dtype,
                                                                 monkeypatch):
    """The inference fast path (max taken before log1p(ReLU) and the float32 cast, no padded
    tokens x latents tensor; for a TopK SAE its sparse output pooled directly, else dense rows)
    must give the module pipeline's tensor exactly, padding, BOS and an empty text included,
    whatever dtype the SAE computes in."""
    from splare_pyserini.modeling.latent_pooling import pool_sae_latents

    if not topk_sparse:  # the dense rows path, which SAEs other than TopK (JumpReLU: Gemma Scope) take
        monkeypatch.setattr(tiny_model.sae, "encode_kept_sparse", lambda hidden, keep: None)
    pooling = tiny_model.pooling
    saved = pooling.pooling_strategy
    pooling.pooling_strategy = strategy
    tiny_model.sae.set_compute_dtype(sae_dtype)
    try:
        with torch.inference_mode():
            fused = pool_sae_latents(tiny_model.sae, pooling, tiny_model.backbone(tiny_model.backbone.preprocess(TEXTS)))
            pipeline = tiny_model.encoder.forward(tiny_model.backbone.preprocess(TEXTS))["sentence_embedding"]
    finally:
        pooling.pooling_strategy = saved
        tiny_model.sae.set_compute_dtype("float32")
    assert fused.dtype == pipeline.dtype == torch.float32
    assert fused.shape == pipeline.shape == (len(TEXTS), tiny_model.sae.d_sae)
    assert (fused[0] > 0).any() and not fused[2].any()  # something pooled; the empty text has nothing
    assert torch.equal(fused, pipeline)


def test_fused_pooling_refuses_another_activation(tiny_model):
    from sentence_transformers.sparse_encoder.modules import SpladePooling

    from splare_pyserini.modeling.latent_pooling import pool_sae_latents, supports_fast_pooling

    double_log = SpladePooling(activation_function="log1p_relu")
    assert not supports_fast_pooling(double_log)
    with pytest.raises(ValueError, match="no fast path for SpladePooling"):
        pool_sae_latents(tiny_model.sae, double_log, {})


def test_batches_are_sorted_by_tokens_and_vectors_do_not_depend_on_batching(tiny_model):
    texts = ["word " * n for n in (3, 40, 1, 25, 7, 60, 2, 33)] + ["x" * 90]  # 90 characters, few tokens
    lengths = tiny_model.backbone.token_lengths(texts)
    assert lengths == [len(tiny_model.backbone.preprocess([t])["input_ids"][0]) for t in texts]
    one_by_one = tiny_model.encode(texts, "document", batch_size=1)
    for alone, batched in zip(one_by_one, tiny_model.encode(texts, "document", batch_size=3)):
        assert alone.keys() == batched.keys()
        assert list(batched.values()) == pytest.approx([alone[k] for k in batched], rel=1e-4, abs=1e-5)


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="doc_top_k"):
        SplareConfig(doc_top_k=0)
    with pytest.raises(ValueError, match="unknown SplareConfig fields"):
        SplareConfig.from_dict({"topk": 3})


def test_model_dir_errors_are_clear(tmp_path, tiny_model_dir):
    with pytest.raises(FileNotFoundError, match="no such model directory"):
        SplareModel.from_pretrained(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="missing modules.json"):
        SplareModel.from_pretrained(tmp_path / "empty")


def test_sae_of_another_layer_or_width_is_refused(tiny_backbone_dir, tiny_sae_dir, tmp_path):
    from splare_pyserini.modeling.stand_ins import build_tiny_sae

    with pytest.raises(ValueError, match="blocks.2.hook_resid_post but the backbone is cut at layer 1"):
        SplareModel.build(str(tiny_backbone_dir), 1, sae_path=str(tiny_sae_dir))
    wrong = build_tiny_sae(tmp_path / "wrong", d_in=32)
    with pytest.raises(ValueError, match="d_in=32 does not match"):
        SplareModel.build(str(tiny_backbone_dir), 2, sae_path=str(wrong))


def test_embedded_default_model_is_shipped_and_loads():
    folder = default_model_dir()
    assert (folder / "splare_config.json").exists(), "the default model directory is not shipped"
    sae_files = list(folder.rglob("sae_weights.safetensors"))
    assert sae_files and sum(p.stat().st_size for p in folder.rglob("*")) < 40 * 2**20
    config = json.loads((folder / "splare_config.json").read_text())
    assert config["query_top_k"] == 40 and config["doc_top_k"] == 400
    model = SplareModel.from_pretrained(None)
    assert model.sae.compute_dtype == "bfloat16"  # the shipped choice (eval/results/encode-speed)
    vectors = model.encode_impacts(["protein folding"], "query")
    assert 0 < len(vectors[0]) <= 40


def test_bf16_backbone_keeps_the_sae_in_float32(tiny_backbone_dir, tiny_sae_dir, tmp_path, bf16_cpu):
    model = SplareModel.build(str(tiny_backbone_dir), 2, sae_path=str(tiny_sae_dir), torch_dtype="bfloat16")
    assert next(model.backbone.model.parameters()).dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in model.sae.parameters())
    vectors = model.encode(TEXTS[:2], "document")
    model.save_pretrained(tmp_path / "bf16")
    again = SplareModel.from_pretrained(tmp_path / "bf16")
    assert all(p.dtype == torch.float32 for p in again.sae.parameters())
    assert again.encode(TEXTS[:2], "document") == vectors


def test_inference_adapter_runs_in_the_backbone_dtype_and_is_resaved_unchanged(tiny_backbone_dir, tiny_sae_dir, tmp_path, bf16_cpu):
    """A loaded adapter is cast to a bf16 backbone's dtype (no float32 round trip per LoRA layer),
    the full-precision file on disk is what a re-save writes, and trained weights are still saved."""
    from peft import LoraConfig

    model = SplareModel.build(str(tiny_backbone_dir), 2, sae_path=str(tiny_sae_dir), torch_dtype="bfloat16")
    model.backbone.add_lora(LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    assert {p.dtype for n, p in model.backbone.model.named_parameters() if "lora_" in n} == {torch.float32}
    model.save_pretrained(tmp_path / "trained")
    adapter = "0_CausalLMBackbone/adapter_model.safetensors"
    stored = load_file(tmp_path / "trained" / adapter)
    assert {t.dtype for t in stored.values()} == {torch.float32}

    loaded = SplareModel.from_pretrained(tmp_path / "trained")
    lora = {n: p for n, p in loaded.backbone.model.named_parameters() if "lora_" in n}
    assert lora and {p.dtype for p in lora.values()} == {torch.bfloat16}
    assert not any(p.requires_grad for p in lora.values())
    vectors = loaded.encode(TEXTS[:2], "document")
    loaded.save_pretrained(tmp_path / "resaved")
    assert (tmp_path / "resaved" / adapter).read_bytes() == (tmp_path / "trained" / adapter).read_bytes()
    assert SplareModel.from_pretrained(tmp_path / "resaved").encode(TEXTS[:2], "document") == vectors

    # weights changed after loading (made trainable) are saved as they are, not the old file
    for p in lora.values():
        p.requires_grad_(True)
        p.data.add_(1.0)
    loaded.save_pretrained(tmp_path / "changed")
    changed = load_file(tmp_path / "changed" / adapter)
    assert any(not torch.equal(changed[k].float(), stored[k]) for k in stored)


def test_peft_lora_adapter_is_saved_and_loaded_with_the_model(tiny_model_dir, tmp_path):
    from peft import LoraConfig

    model = SplareModel.from_pretrained(tiny_model_dir)
    before = model.encode(TEXTS[:2], "document")
    model.backbone.add_lora(LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    with_lora = model.encode(TEXTS[:2], "document")
    assert with_lora != before  # the adapter is active (random, non-zero init)
    model.save_pretrained(tmp_path / "lora")
    backbone_dir = tmp_path / "lora" / "0_CausalLMBackbone"
    assert (backbone_dir / "adapter_config.json").exists() and (backbone_dir / "adapter_model.safetensors").exists()
    assert not list(backbone_dir.glob("model*.safetensors"))  # only the adapter, the base is referenced
    reloaded = SplareModel.from_pretrained(tmp_path / "lora")
    assert reloaded.encode(TEXTS[:2], "document") == with_lora


def test_a_load_report_is_dropped_only_when_it_names_the_cut_layers_alone():
    from splare_pyserini.modeling.quiet_loading import only_layers_past

    header = "Gemma3TextModel LOAD REPORT from: x\nKey | Status | |\n---+---+-+-\n"
    cut = header + "model.layers.{7...17}.mlp.up_proj.weight | UNEXPECTED | |\nmodel.layers.9.input_layernorm.weight | UNEXPECTED | |\n"
    assert only_layers_past(6)(cut)
    assert not only_layers_past(7)(cut)  # layer 7 is used: its keys being unexpected is news
    assert not only_layers_past(6)(cut + "model.norm.weight | MISSING | |\n")
    assert not only_layers_past(6)(header + "lm_head.weight | UNEXPECTED | |\n")
    assert not only_layers_past(6)("some other warning")


def test_a_model_directory_saved_with_the_flat_layouts_module_paths_still_loads(tiny_model_dir, tmp_path):
    import shutil

    old = tmp_path / "old-layout"
    shutil.copytree(tiny_model_dir, old)
    modules = json.loads((old / "modules.json").read_text())
    for entry in modules:
        entry["type"] = entry["type"].replace("splare_pyserini.modeling.", "splare_pyserini.")
    assert any(e["type"] == "splare_pyserini.backbone.CausalLMBackbone" for e in modules)
    (old / "modules.json").write_text(json.dumps(modules))
    texts = ["a lens focuses light", "glaciers carve valleys"]
    assert SplareModel.from_pretrained(old).encode(texts) == SplareModel.from_pretrained(tiny_model_dir).encode(texts)
