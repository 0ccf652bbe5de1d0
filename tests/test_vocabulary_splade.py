"""The vocabulary-SPLADE row of the eval tables (SPLADE-tiny), on a tiny BERT MLM stand-in."""
import json

import pytest
import torch

from eval import beir
from eval.vocabulary_splade import VocabularySplade
from splare_pyserini.modeling.stand_ins import build_tiny_bert_mlm
from splare_pyserini.lucene.trec_eval import pytrec_eval_scores


@pytest.fixture(scope="module")
def tiny_splade(tmp_path_factory):
    return VocabularySplade(build_tiny_bert_mlm(tmp_path_factory.mktemp("tiny-bert")), max_seq_length=64)


def test_vectors_are_exact_splade_max_pooling_over_word_pieces(tiny_splade):
    texts = ["what is a lens", "the crystalline lens in vertebrates, 2024"]
    encoder = tiny_splade.encoder
    features = encoder.tokenize([texts[1]])
    with torch.inference_mode():
        logits = encoder[0].model(**features).logits[0]
    expected = torch.log1p(torch.relu(logits)).max(dim=0).values
    vector = tiny_splade.encode(texts, "document")[1]
    assert vector and all(" " not in term for term in vector)
    ids = {term: i for i, term in enumerate(tiny_splade.terms)}
    for term, weight in vector.items():
        assert weight == pytest.approx(float(expected[ids[term]]), abs=1e-5)
    assert len(vector) == int((expected > 0).sum())
    assert tiny_splade.encode(texts[::-1], "document")[::-1] == tiny_splade.encode(texts, "document")


def test_eval_table_has_a_splade_tiny_row_scored_from_its_run(shared_data, tiny_model, tiny_splade, tmp_path):
    data = shared_data / "msmarco-toy"
    results, timings = beir.evaluate_dataset(data, tiny_model, tmp_path, batch_size=8, bm25=False,
                                             baselines={"splade-tiny": tiny_splade})
    assert set(results) == {"splare", "splade-tiny"}
    run = tmp_path / "run.msmarco-toy.splade-tiny.txt"
    per_query = pytrec_eval_scores(data / "qrels" / "test.tsv", run, {"ndcg_cut.10"})
    n = len({line.split("\t")[0] for line in open(data / "qrels" / "test.tsv") if not line.startswith("query-id")})
    assert results["splade-tiny"]["ndcg_cut_10"] == pytest.approx(sum(q["ndcg_cut_10"] for q in per_query.values()) / n, abs=1e-4)
    docs = [json.loads(line) for p in sorted((tmp_path / "work" / "msmarco-toy" / "splade-tiny-vectors").glob("*.jsonl"))
            for line in open(p)]
    assert len(docs) == 89 and not any(term.startswith("f") and term[1:].isdigit() for d in docs for term in d["vector"])
    assert "encode corpus splade-tiny" in timings
    table = beir.markdown_table({"msmarco-toy": results})
    assert "| msmarco-toy | splade-tiny |" in table


def test_splade_teacher_scores_are_the_dot_products_of_the_baselines_vectors(tiny_splade, monkeypatch):
    from splare_pyserini.modeling import splade_tiny
    from splare_pyserini.training import teachers as teacher_scores

    monkeypatch.setattr(splade_tiny, "splade_tiny_dir", lambda: tiny_splade.name_or_path)
    items = [("q1", "d1", "what is a lens", "the crystalline lens in vertebrates"),
             ("q1", "d2", "what is a lens", "a camera lens, 2024"), ("q2", "d1", "eyes", "the crystalline lens in vertebrates")]
    scores = teacher_scores.splade_scores(items, batch_size=2)
    for (_, _, query, doc), score in zip(items, scores):
        q, d = tiny_splade.encode([query, doc], "document")
        assert score == pytest.approx(sum(w * d.get(t, 0.0) for t, w in q.items()), rel=1e-4, abs=1e-4)
