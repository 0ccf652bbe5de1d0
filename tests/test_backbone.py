"""The backbone reads the residual stream exactly where sae-lens' hook names say."""
import pytest
import torch
from transformers import AutoModel

from splare_pyserini.modeling.backbone import CausalLMBackbone

TEXTS = ["hello world", "protein folding in the cell is a complex process", "x"]


@pytest.fixture(scope="module")
def full_model(tiny_backbone_dir):
    return AutoModel.from_pretrained(tiny_backbone_dir).eval()


@pytest.mark.parametrize("layer", [0, 2, 3])
def test_layer_l_is_sae_lens_resid_post_l_and_hf_hidden_states_l_plus_1(tiny_backbone_dir, full_model, layer):
    backbone = CausalLMBackbone(str(tiny_backbone_dir), layer=layer)
    features = backbone.preprocess(TEXTS)
    mask = features["attention_mask"].bool()
    with torch.inference_mode():
        ours = backbone(dict(features))["token_embeddings"]
        hidden = full_model(**features, output_hidden_states=True).hidden_states
    # hidden_states[L + 1] is the output of block L (the last entry is normed; L + 1 <= 3 here is not).
    if layer + 1 < len(hidden) - 1:
        torch.testing.assert_close(ours[mask], hidden[layer + 1][mask])
        assert not torch.allclose(ours[mask], hidden[layer][mask])
    assert len(backbone.model.layers) == layer + 1  # the layers after l are not built


def test_layer_out_of_range_is_a_clear_error(tiny_backbone_dir):
    with pytest.raises(ValueError, match="out of range.*4 decoder layers"):
        CausalLMBackbone(str(tiny_backbone_dir), layer=4)


def test_padding_is_right_and_bos_and_padding_are_not_pooled(tiny_backbone_dir):
    backbone = CausalLMBackbone(str(tiny_backbone_dir), layer=1)
    features = backbone.preprocess(TEXTS)
    assert backbone.tokenizer.padding_side == "right"
    with torch.inference_mode():
        out = backbone(dict(features))
    assert out["attention_mask"][:, 0].sum() == 0  # BOS excluded
    assert torch.equal(out["attention_mask"][:, 1:], features["attention_mask"][:, 1:])


def test_huge_text_is_cut_before_tokenization(tiny_backbone_dir):
    backbone = CausalLMBackbone(str(tiny_backbone_dir), layer=0, max_seq_length=16)
    features = backbone.preprocess(["word " * 2_000_000])
    assert features["input_ids"].shape == (1, 16)


def test_bidirectional_attention_sees_later_tokens_and_is_saved(tiny_backbone_dir, tmp_path):
    def first_token_states(backbone, texts):
        with torch.inference_mode():
            return backbone(dict(backbone.preprocess(texts)))["token_embeddings"][:, 1]

    texts = ["protein folding in the cell", "protein folding in the sea"]  # same first tokens
    causal = CausalLMBackbone(str(tiny_backbone_dir), layer=2)
    states = first_token_states(causal, texts)
    torch.testing.assert_close(states[0], states[1])  # causal: blind to what follows
    both = CausalLMBackbone(str(tiny_backbone_dir), layer=2, bidirectional=True)
    states = first_token_states(both, texts)
    assert not torch.allclose(states[0], states[1])  # bidirectional: sees the last word
    both.save(str(tmp_path / "b"))
    reloaded = CausalLMBackbone.load(str(tmp_path / "b"))
    assert reloaded.bidirectional and torch.equal(first_token_states(reloaded, texts), states)
    causal.set_bidirectional(True)  # the switch on a loaded model (training from a causal base)
    torch.testing.assert_close(first_token_states(causal, texts), states)
