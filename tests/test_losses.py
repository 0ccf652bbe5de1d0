"""SplareLoss: Top-K as at inference, InfoNCE and FLOPS on hand-computed tensors, active-latent stats,
and one forward pass through the tiny real model."""
import math

import pytest
import torch
from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss
from torch import nn

from splare_pyserini.training.losses import SplareLoss


class Passthrough(nn.Module):
    """A stand-in encoder: each column's "features" already hold its pooled latents."""

    def forward(self, features):
        return {"sentence_embedding": features["x"]}


def make_loss(query_top_k=None, doc_top_k=None, scale=1.0, doc_weight=0.0, query_weight=0.0):
    model = Passthrough()
    return SplareLoss(model, SparseMultipleNegativesRankingLoss(model, scale=scale),
                      document_regularizer_weight=doc_weight, query_regularizer_weight=query_weight,
                      query_top_k=query_top_k, doc_top_k=doc_top_k)


def columns(*tensors):
    return [{"x": t} for t in tensors]


def test_query_top_k_keeps_k_entries_and_gradients_only_reach_them():
    torch.manual_seed(0)
    queries = (torch.rand(3, 10) + 0.1).requires_grad_()  # every entry positive, all distinct
    docs = (torch.rand(3, 10) + 0.1).requires_grad_()
    loss = make_loss(query_top_k=2, doc_top_k=4, doc_weight=0.5, query_weight=0.5)
    seen = []
    inner = loss.loss.compute_loss_from_embeddings
    loss.loss.compute_loss_from_embeddings = lambda emb, labels: seen.append(emb) or inner(emb, labels)

    out = loss(columns(queries, docs))
    q_used, d_used = seen[0]
    kept_q, kept_d = q_used != 0, d_used != 0
    assert kept_q.sum(-1).tolist() == [2, 2, 2]
    assert kept_d.sum(-1).tolist() == [4, 4, 4]
    # The kept entries are each row's largest, with their original values.
    expected_q = torch.zeros_like(queries, dtype=torch.bool).scatter_(-1, queries.topk(2, dim=-1).indices, True)
    assert torch.equal(kept_q, expected_q)
    assert torch.equal(q_used[kept_q], queries[kept_q])

    sum(out.values()).backward()
    assert torch.all(queries.grad[~kept_q] == 0)
    assert torch.all(queries.grad[kept_q] != 0)
    assert torch.all(docs.grad[~kept_d] == 0)
    assert torch.all(docs.grad[kept_d] != 0)


def test_top_k_none_keeps_every_latent():
    queries, docs = torch.rand(2, 6) + 0.1, torch.rand(2, 6) + 0.1
    loss = make_loss(query_top_k=None, doc_top_k=None)
    loss(columns(queries, docs))
    assert loss.pop_stats() == {"active_latents_query": 6.0, "active_latents_doc": 6.0}


def test_infonce_matches_closed_form_cross_entropy():
    temperature = 0.5
    queries = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    docs = torch.tensor([[3.0, 1.0], [1.0, 1.0]])
    loss = make_loss(scale=1 / temperature)
    base = loss(columns(queries, docs))["base_loss"]
    # scores = q . d / temperature: [[3, 1], [1, 1]] / 0.5 = [[6, 2], [2, 2]]; targets on the diagonal.
    row0 = -6 + math.log(math.exp(6) + math.exp(2))
    row1 = -2 + math.log(math.exp(2) + math.exp(2))
    assert base.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_infonce_with_a_hard_negative_column():
    queries = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positives = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    negatives = torch.tensor([[1.0, 1.0], [0.0, 3.0]])
    base = make_loss(scale=1.0)(columns(queries, positives, negatives))["base_loss"]
    # Each query scores [pos_0, pos_1, neg_0, neg_1]: q0 -> [2, 0, 1, 0], q1 -> [0, 1, 1, 3].
    row0 = -2 + math.log(math.exp(2) + 1 + math.exp(1) + 1)
    row1 = -1 + math.log(1 + math.exp(1) + math.exp(1) + math.exp(3))
    assert base.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_flops_terms_are_sum_of_squared_mean_activations_times_weight():
    queries = torch.tensor([[1.0, 1.0, 0.0], [3.0, 0.0, 2.0]])
    positives = torch.tensor([[1.0, 0.0, 3.0], [3.0, 2.0, 0.0]])
    negatives = torch.tensor([[2.0, 0.0, 0.0], [2.0, 4.0, 0.0]])
    out = make_loss(doc_weight=0.1, query_weight=0.2)(columns(queries, positives, negatives))
    # Documents (positives and negatives together, 4 rows): column means 2, 1.5, 0.75.
    assert out["document_regularizer_loss"].item() == pytest.approx(0.1 * (2**2 + 1.5**2 + 0.75**2))
    # Queries: column means 2, 0.5, 1.
    assert out["query_regularizer_loss"].item() == pytest.approx(0.2 * (2**2 + 0.5**2 + 1**2))
    # The same formula written out: sum_j (mean_i |x_ij|)^2.
    docs = torch.cat([positives, negatives])
    assert out["document_regularizer_loss"].item() == pytest.approx(0.1 * float((docs.abs().mean(0) ** 2).sum()))


def test_flops_sees_the_top_k_vectors():
    queries = torch.tensor([[1.0, 2.0, 4.0]])  # top-1 keeps only the 4
    docs = torch.tensor([[5.0, 1.0, 2.0]])  # top-2 keeps 5 and 2
    out = make_loss(query_top_k=1, doc_top_k=2, doc_weight=1.0, query_weight=1.0)(columns(queries, docs))
    assert out["query_regularizer_loss"].item() == pytest.approx(16.0)
    assert out["document_regularizer_loss"].item() == pytest.approx(25.0 + 4.0)


def test_no_query_regularizer_without_its_weight():
    out = make_loss(query_weight=None)(columns(torch.rand(2, 4), torch.rand(2, 4)))
    assert set(out) == {"base_loss", "document_regularizer_loss"}


def test_pop_stats_returns_mean_active_latents_and_resets():
    loss = make_loss(query_top_k=2, doc_top_k=3)
    # Step 1: queries have 1 and 3 (-> 2 after top-k) active; docs 4 (-> 3), 1, 2 and 0 active.
    q1 = torch.tensor([[0.5, 0, 0, 0, 0], [1.0, 2.0, 3.0, 0, 0]])
    p1 = torch.tensor([[1.0, 2.0, 3.0, 4.0, 0], [0, 0, 0, 0, 7.0]])
    n1 = torch.tensor([[0, 1.0, 1.5, 0, 0], [0, 0, 0, 0, 0.0]])
    loss(columns(q1, p1, n1))
    # Step 2: every query and doc fully dense (-> 2 and 3).
    loss(columns(torch.ones(2, 5), torch.ones(2, 5), torch.ones(2, 5)))
    stats = loss.pop_stats()
    assert stats["active_latents_query"] == pytest.approx(((1 + 2) / 2 + 2) / 2)
    assert stats["active_latents_doc"] == pytest.approx(((3 + 1 + 2 + 0) / 4 + 3) / 2)
    assert loss.pop_stats() == {}
    loss(columns(torch.ones(2, 5), torch.ones(2, 5)))
    assert loss.pop_stats() == {"active_latents_query": 2.0, "active_latents_doc": 3.0}


def test_config_dict_records_top_k():
    config = make_loss(query_top_k=7, doc_top_k=70).get_config_dict()
    assert config["query_top_k"] == 7 and config["doc_top_k"] == 70


def test_forward_on_tiny_model_features(tiny_model):
    encoder = tiny_model.encoder
    loss = SplareLoss(encoder, SparseMultipleNegativesRankingLoss(encoder, scale=20.0),
                      document_regularizer_weight=1e-3, query_regularizer_weight=1e-3, query_top_k=8, doc_top_k=40)
    texts = (["what is a sparse retriever", "who wrote lucene"],
             ["A sparse retriever scores documents with an inverted index.", "Lucene was written by Doug Cutting."],
             ["Bananas are yellow fruit.", "The weather in Paris is mild in spring."])
    features = [tiny_model.backbone.preprocess(list(column)) for column in texts]
    encoder.train()
    try:
        out = loss(features)
    finally:
        encoder.eval()
    assert set(out) == {"base_loss", "document_regularizer_loss", "query_regularizer_loss"}
    for value in out.values():
        assert value.dim() == 0 and torch.isfinite(value)
    assert out["base_loss"].item() > 0
    try:  # the backbone learns through the Top-K'd latents; the SAE stays frozen
        sum(out.values()).backward()
        grads = [p.grad for p in tiny_model.backbone.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads)
        assert all(p.grad is None for p in tiny_model.sae.parameters())
    finally:
        encoder.zero_grad(set_to_none=True)  # the model is shared by the session
    stats = loss.pop_stats()
    assert 0 < stats["active_latents_query"] <= 8
    assert 0 < stats["active_latents_doc"] <= 40
