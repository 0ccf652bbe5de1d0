"""The one-index hybrid (latents + BM25 words): its score is alpha * Pyserini's BM25 + (1 - alpha) *
SPLARE, hit by hit, on real Lucene indexes of Medline; fusion rows recomputed from their run files."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from splare_pyserini.lucene import pyserini_cli as lucene
from splare_pyserini.lucene.hybrid import (BM25Statistics, WordAnalyzer, hybrid_query, is_word_term, quantization_bound,
                                    score_unit, with_words, word_term)
from splare_pyserini.io.readers import read_corpus, read_topics
from splare_pyserini.lucene.impact_searcher import search_encoded
from splare_pyserini.modeling.sparse_vectors import latent_index, latent_name

K1, B = 0.9, 0.4


@pytest.fixture(scope="module")
def medline(shared_data) -> Path:
    return shared_data / "medline"


@pytest.fixture(scope="module")
def indexes(tmp_path_factory, medline, tiny_model, tiny_model_dir):
    """Hybrid (``encode --hybrid``), SPLARE (its latents alone) and Pyserini BM25 indexes of Medline,
    with the tiny model."""
    from splare_pyserini.encoding.jobs import encode_corpus, parse_args

    root = tmp_path_factory.mktemp("hybrid")
    encode_corpus(parse_args(["--corpus", str(medline / "corpus.jsonl"), "--encoder", str(tiny_model_dir),
                              "--batch-size", "32", "--embeddings", str(root / "hybrid-vectors"), "--hybrid"]),
                  model=tiny_model)
    (root / "splare-vectors").mkdir()
    for part in (root / "hybrid-vectors").glob("*.jsonl"):
        with open(root / "splare-vectors" / part.name, "w", encoding="utf-8") as handle:
            for line in part.open(encoding="utf-8"):
                record = json.loads(line)
                record["vector"] = {t: w for t, w in record["vector"].items() if not is_word_term(t)}
                handle.write(json.dumps(record) + "\n")
    lucene.index_impact(root / "splare-vectors", root / "splare-index", threads=2, store_raw=False)
    lucene.index_impact(root / "hybrid-vectors", root / "hybrid-index", threads=2)
    lucene.write_bm25_collection(str(medline / "corpus.jsonl"), root / "bm25-collection")
    lucene.index_bm25(root / "bm25-collection", root / "bm25-index", threads=2, store=False)
    return root


@pytest.fixture(scope="module")
def searchers(indexes, tiny_model):
    from pyserini.search.lucene import LuceneImpactSearcher, LuceneSearcher

    from splare_pyserini.lucene.query_encoders import SplareQueryEncoder

    bm25 = LuceneSearcher(str(indexes / "bm25-index"))
    bm25.set_bm25(K1, B)
    encoder = SplareQueryEncoder(tiny_model)
    return {"bm25": bm25, "splare": LuceneImpactSearcher(str(indexes / "splare-index"), encoder, min_idf=-1),
            "hybrid": LuceneImpactSearcher(str(indexes / "hybrid-index"), encoder, min_idf=-1)}


@pytest.fixture(scope="module")
def queries(medline, tiny_model):
    records = list(read_topics(medline / "queries.jsonl"))[:30]
    latents = tiny_model.encode_impacts([r.text for r in records], "query")
    return [(r.text, v) for r, v in zip(records, latents)]


def test_bm25_term_weights_are_pyserinis_own(medline, indexes):
    """Our BM25 weight of every term of 20 documents = Pyserini's ``compute_bm25_term_weight`` (Lucene's formula)."""
    from pyserini.index.lucene import LuceneIndexReader

    analyzer = WordAnalyzer("en")
    docs = list(read_corpus(medline / "corpus.jsonl"))
    stats = BM25Statistics.from_texts((d.text for d in docs), analyzer)
    reader = LuceneIndexReader(str(indexes / "bm25-index"))
    assert (stats.doc_count, stats.sum_total_term_freq, len(stats.doc_freq)) == (
        reader.stats()["non_empty_documents"], reader.stats()["total_terms"], reader.stats()["unique_terms"])
    compared = 0
    for doc in docs[:: len(docs) // 20]:
        for term, weight in stats.term_weights(analyzer.term_counts(doc.text)).items():
            assert weight == pytest.approx(reader.compute_bm25_term_weight(doc.docid, term, analyzer=None, k1=K1, b=B),
                                           abs=1e-5), (doc.docid, term)
            compared += 1
    assert compared > 500


def stored_vectors(indexes) -> dict[str, dict[str, int]]:
    vectors = {}
    for part in (indexes / "hybrid-vectors").glob("*.jsonl"):
        for line in part.open(encoding="utf-8"):
            record = json.loads(line)
            vectors[record["id"]] = record["vector"]
    return vectors


@pytest.mark.parametrize("alpha", [0.3, 0.7, 1.0])
def test_hybrid_score_is_alpha_bm25_plus_splare(indexes, searchers, queries, tiny_model, alpha):
    """Hit by hit: score / s^2 = alpha * Pyserini's BM25 + (1 - alpha) * SPLARE, within the
    quantization bound of that hit (alpha 1: BM25 alone)."""
    scale = tiny_model.config.quantization_scale
    analyzer, documents = WordAnalyzer("en"), stored_vectors(indexes)
    checked = 0
    for text, latents in queries:
        counts = analyzer.term_counts(text)
        bm25 = {h.docid: h.score for h in searchers["bm25"].search(text, 2000)}
        splare = {h.docid: h.score / scale ** 2 for h in search_encoded(searchers["splare"], latents, 2000)}
        hits = search_encoded(searchers["hybrid"], hybrid_query(latents, counts, alpha, scale), 20)
        assert hits
        for hit in hits:
            expected = alpha * bm25.get(hit.docid, 0.0) + (1 - alpha) * splare.get(hit.docid, 0.0)
            bound = quantization_bound(latents, counts, documents[hit.docid], alpha, scale)
            assert abs(hit.score / score_unit(scale) - expected) <= bound + 1e-5 * abs(expected), (text, hit.docid)
            checked += 1
    assert checked >= 20 * len(queries) * 0.9


def test_alpha_zero_is_splare_and_one_is_bm25(searchers, queries, tiny_model):
    scale = tiny_model.config.quantization_scale
    analyzer = WordAnalyzer("en")
    for text, latents in queries:
        counts = analyzer.term_counts(text)
        assert hybrid_query(latents, counts, 0.0, scale) == latents  # SPLARE's own query, weight for weight
        splare = search_encoded(searchers["splare"], latents, 10)
        hybrid = search_encoded(searchers["hybrid"], latents, 10)
        assert [(h.docid, h.score) for h in splare] == [(h.docid, h.score) for h in hybrid]
        only_words = hybrid_query(latents, counts, 1.0, scale)
        assert only_words and all(is_word_term(t) for t in only_words)
        bm25 = [h.docid for h in searchers["bm25"].search(text, 10)]
        hybrid = [h.docid for h in search_encoded(searchers["hybrid"], only_words, 10)]
        assert len(set(bm25) & set(hybrid)) >= 8  # the same top 10 but for near-ties (scores: test above)


def test_word_terms_never_collide_with_latents(indexes):
    words = latents = 0
    for part in sorted((indexes / "hybrid-vectors").glob("*.jsonl")):
        for line in part.open(encoding="utf-8"):
            for term in json.loads(line)["vector"]:
                if is_word_term(term):
                    words += 1
                    with pytest.raises(ValueError):
                        latent_index(term)
                else:
                    assert latent_name(latent_index(term)) == term
                    latents += 1
    assert words > 10_000 and latents > 10_000
    stats = BM25Statistics(doc_count=2, sum_total_term_freq=4, doc_freq={"f12": 1})
    vector = with_words({latent_name(12): 5}, "F12 f12", WordAnalyzer("en"), stats, 100.0)
    assert set(vector) == {"f12", word_term("f12")}  # a word spelled like a latent stays a word


def test_explain_splits_latents_and_words(indexes, searchers, queries, tiny_model):
    from pyserini.search.lucene import LuceneImpactSearcher

    from splare_pyserini.interpret.explanations import explain_hit, format_text
    from splare_pyserini.lucene.query_encoders import SplareHybridQueryEncoder

    searcher = LuceneImpactSearcher(str(indexes / "hybrid-index"), SplareHybridQueryEncoder(tiny_model, alpha=0.3),
                                    min_idf=-1)
    text = queries[0][0]
    hit = searcher.search(text, 5)[0]
    ex = explain_hit(searcher, text, hit=hit)
    assert ex.part("word") and ex.part("latent") and ex.query_words
    assert ex.matches_lucene
    assert sum(c.product for c in ex.part("word")) + sum(c.product for c in ex.part("latent")) == ex.total
    rendered = format_text(ex)
    assert "shared latents" in rendered and "shared words" in rendered and "matches" in rendered


def test_hybrid_search_cli(indexes, queries, tiny_model, tiny_model_dir, tmp_path, searchers):
    topics = tmp_path / "topics.tsv"
    topics.write_text("".join(f"q{i}\t{text}\n" for i, (text, _) in enumerate(queries[:5])), encoding="utf-8")
    run = tmp_path / "run.txt"
    subprocess.run([sys.executable, "-m", "splare_pyserini.search", "--index", str(indexes / "hybrid-index"),
                    "--topics", str(topics), "--encoder", str(tiny_model_dir), "--hybrid", "--hybrid-alpha", "0.3",
                    "--output", str(run), "--hits", "10"], check=True, capture_output=True, text=True)
    lines = [line.split() for line in run.read_text().splitlines()]
    analyzer, scale = WordAnalyzer("en"), tiny_model.config.quantization_scale
    for i, (text, latents) in enumerate(queries[:5]):
        expected = search_encoded(searchers["hybrid"], hybrid_query(latents, analyzer.term_counts(text), 0.3, scale), 10)
        assert [l[2] for l in lines if l[0] == f"q{i}"] == [h.docid for h in expected]


def test_hybrid_flags_are_checked(tmp_path):
    from splare_pyserini.encoding.jobs import parse_args
    from splare_pyserini.lucene.searching import hybrid_options

    with pytest.raises(SystemExit):
        parse_args(["--topics", "q.tsv", "--embeddings", str(tmp_path), "--alpha", "0.5"])
    with pytest.raises(SystemExit):
        parse_args(["--topics", "q.tsv", "--embeddings", str(tmp_path), "--hybrid", "--alpha", "1.5"])
    with pytest.raises(SystemExit):
        hybrid_options(["--index", "x", "--hybrid-alpha", "0.5"])
    rest, hybrid = hybrid_options(["--index", "x", "--hybrid", "--hybrid-alpha", "0.25", "--language", "de"])
    assert rest == ["--index", "x", "--language", "de"] and hybrid == {"alpha": 0.25, "language": "de"}
    with pytest.raises(ValueError, match="alpha"):
        hybrid_query({}, Counter(), -0.1, 100.0)


def test_every_shard_gets_the_whole_corpus_statistics(medline, tmp_path):
    from splare_pyserini.encoding.jobs import corpus_bm25_statistics, parse_args

    whole = corpus_bm25_statistics(parse_args(["--corpus", str(medline / "corpus.jsonl"), "--embeddings",
                                               str(tmp_path / "whole"), "--hybrid"]))[1]
    shard = corpus_bm25_statistics(parse_args(["--corpus", str(medline / "corpus.jsonl"), "--embeddings",
                                               str(tmp_path / "shard1"), "--hybrid", "--shard-id", "1",
                                               "--shard-num", "2"]))[1]
    assert shard == whole and whole.doc_count == 1033
    reused = tmp_path / "stats.json"
    whole.save(reused)
    args = parse_args(["--corpus", str(medline / "corpus.jsonl"), "--embeddings", str(tmp_path / "other"),
                       "--hybrid", "--bm25-stats", str(reused), "--bm25-k1", "1.2"])
    with pytest.raises(ValueError, match="k1"):
        corpus_bm25_statistics(args)


def test_fusion_rows_recomputed_from_their_runs(tmp_path):
    """Pyserini's normalized interpolation and RRF, as the eval rows use them, against a computation
    from the two run files."""
    runs = {"bm25": {"q1": {"a": 12.0, "b": 9.0, "c": 3.0}, "q2": {"x": 4.0, "y": 2.0}},
            "splare": {"q1": {"b": 0.9, "d": 0.5, "a": 0.1}, "q2": {"y": 7.0, "z": 1.0, "x": 0.5}}}
    paths = {}
    for name, run in runs.items():
        paths[name] = tmp_path / f"{name}.txt"
        with open(paths[name], "w") as handle:
            for qid, docs in run.items():
                for rank, (docid, score) in enumerate(sorted(docs.items(), key=lambda kv: -kv[1]), start=1):
                    handle.write(f"{qid} Q0 {docid} {rank} {score} {name}\n")
    from splare_pyserini.lucene.trec_eval import read_run

    alpha = 0.6
    fused = read_run(lucene.fuse_interpolation([paths["bm25"], paths["splare"]], tmp_path / "interp.txt", alpha))
    lucene.fuse_rrf([paths["splare"], paths["bm25"]], tmp_path / "rrf.txt")
    rrf = read_run(tmp_path / "rrf.txt")
    for qid in ("q1", "q2"):
        def normalized(run):
            low, high = min(run[qid].values()), max(run[qid].values())
            return {d: (s - low) / (high - low) for d, s in run[qid].items()}

        b, s = normalized(runs["bm25"]), normalized(runs["splare"])
        expected = {d: alpha * b.get(d, 0.0) + (1 - alpha) * s.get(d, 0.0) for d in set(b) | set(s)}
        assert fused[qid] == pytest.approx(expected)
        ranks = {name: {d: r for r, (d, _) in enumerate(sorted(run[qid].items(), key=lambda kv: -kv[1]), start=1)}
                 for name, run in runs.items()}
        expected_rrf = {d: sum(1 / (60 + ranks[n][d]) for n in ranks if d in ranks[n]) for d in expected}
        assert rrf[qid] == pytest.approx(expected_rrf)


def test_encode_topics_hybrid_writes_alpha_weighted_queries(medline, tiny_model, tiny_model_dir, tmp_path):
    from splare_pyserini.encoding.jobs import encode_topics, parse_args

    out = tmp_path / "queries"
    encode_topics(parse_args(["--topics", str(medline / "queries.jsonl"), "--embeddings", str(out),
                              "--encoder", str(tiny_model_dir), "--hybrid", "--alpha", "0.3"]), model=tiny_model)
    written = [json.loads(line) for line in (out / "queries.jsonl").open(encoding="utf-8")]
    latents = tiny_model.encode_impacts([q["contents"] for q in written], "query")
    analyzer, scale = WordAnalyzer("en"), tiny_model.config.quantization_scale
    for record, vector in zip(written, latents):
        assert record["vector"] == hybrid_query(vector, analyzer.term_counts(record["contents"]), 0.3, scale)
    assert any(is_word_term(t) for t in written[0]["vector"])
