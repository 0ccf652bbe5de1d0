import pytest
import torch
from hypothesis import given, settings, strategies as st

from splare_pyserini.modeling.sparse_vectors import latent_index, latent_name, quantize, to_sparse_dicts, top_k


def test_top_k_keeps_the_k_largest_per_row():
    pooled = torch.tensor([[0.0, 3.0, 1.0, 2.0, 0.5], [5.0, 0.0, 0.0, 0.125, 0.25]])
    kept = top_k(pooled, 2)
    assert kept.tolist() == [[0.0, 3.0, 0.0, 2.0, 0.0], [5.0, 0.0, 0.0, 0.0, 0.25]]


def test_top_k_none_or_large_keeps_everything_and_rejects_nonpositive():
    pooled = torch.rand(2, 6)
    assert torch.equal(top_k(pooled, None), pooled)
    assert torch.equal(top_k(pooled, 6), pooled)
    with pytest.raises(ValueError, match="positive"):
        top_k(pooled, 0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=20, allow_nan=False), min_size=1, max_size=64),
       st.integers(min_value=1, max_value=80), st.floats(min_value=1, max_value=1000))
def test_quantized_vectors_are_positive_ints_at_most_k(weights, k, scale):
    pooled = torch.tensor([weights])
    vector = to_sparse_dicts(top_k(pooled, k))[0]
    impacts = quantize(vector, scale)
    assert len(impacts) <= min(k, len(weights))
    assert all(isinstance(v, int) and v >= 1 for v in impacts.values())
    for name, value in impacts.items():
        assert value == round(weights[latent_index(name)] * scale)


def test_quantize_drops_zeros_and_validates_scale():
    assert quantize({"f1": 0.004, "f2": 0.006, "f3": 1.234}, 100) == {"f2": 1, "f3": 123}
    with pytest.raises(ValueError, match="scale"):
        quantize({"f1": 1.0}, 0)


def test_latent_names_are_lucene_safe_and_invertible():
    assert latent_name(1234) == "f1234"
    assert latent_index("f1234") == 1234
    with pytest.raises(ValueError):
        latent_index("x12")
