"""End to end on a real Lucene index built by Pyserini: trec_eval scores, the one-call searcher, hits past k (the
search paths agree in tests/test_batch_invariance.py::test_every_search_path_writes_the_same_run)."""
import json
import subprocess
import sys

import pytest

from splare_pyserini.lucene import java_env, pyserini_cli as lucene
from splare_pyserini.lucene.trec_eval import pytrec_eval_scores, read_run, trec_eval, write_trec_qrels

java_env.configure()


def run_cli(*args):
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def toy(shared_data, tiny_model_dir, tmp_path_factory):
    """MS MARCO toy set encoded by the CLI and indexed by Pyserini's CLI."""
    data = shared_data / "msmarco-toy"
    work = tmp_path_factory.mktemp("toy")
    run_cli("-m", "splare_pyserini.encode", "input", "--corpus", data / "corpus.jsonl",
            "output", "--embeddings", work / "vectors", "--records-per-part", 32,
            "encoder", "--encoder", tiny_model_dir, "--batch-size", 2)  # window 2 x 16 = 32 records
    run_cli("-m", "splare_pyserini.encode", "input", "--topics", data / "queries.jsonl",
            "output", "--embeddings", work / "queries", "encoder", "--encoder", tiny_model_dir)
    lucene.index_impact(work / "vectors", work / "index")
    return data, work


def test_one_call_searcher_gives_pyserinis_hits_and_the_cli_uses_it(toy, tiny_model_dir, monkeypatch):
    """SplareImpactSearcher (one Java call per query, no text detour) = Pyserini's
    LuceneImpactSearcher (one per term, the weight-repeated text analyzed), hit for hit, for search
    and batch_search, with min_idf filtering; the CLI builds it."""
    from pyserini.search.lucene import LuceneImpactSearcher

    from splare_pyserini.lucene import searching as search
    from splare_pyserini.lucene.impact_searcher import ImpactHit, SplareImpactSearcher, java_impact_query
    from splare_pyserini.lucene.query_encoders import SplareQueryEncoder

    data, work = toy
    topics = work / "queries" / "topics.tsv"
    qids, texts = zip(*(line.rstrip("\n").split("\t") for line in open(topics, encoding="utf-8")))
    encoder = SplareQueryEncoder(str(tiny_model_dir))
    for min_idf in (-1, 1.0):  # 1.0 drops the latents most documents share
        ours = SplareImpactSearcher(str(work / "index"), encoder, min_idf=min_idf)
        stock = LuceneImpactSearcher(str(work / "index"), encoder, min_idf=min_idf)
        for text in texts[:8]:
            assert [(h.docid, h.score) for h in ours.search(text, k=15)] == [(h.docid, h.score) for h in stock.search(text, k=15)]
        for threads in (1, 2):  # 1: our search per query; 2: Anserini's thread pool
            theirs, mine = (s.batch_search(list(texts), list(qids), k=15, threads=threads) for s in (stock, ours))
            assert {q: [(h.docid, h.score) for h in v] for q, v in mine.items()} == \
                   {q: [(h.docid, h.score) for h in v] for q, v in theirs.items()}
            assert sum(map(len, mine.values())) > 0
        assert hasattr(ours.object, "_search") and hasattr(ours.object, "intToFloat")  # the direct path runs here
        hit = ours.search(texts[0], k=1)[0]  # hits read in one call; the stored document on demand
        assert isinstance(hit, ImpactHit) and hit.lucene_document.get("id") == hit.docid
        assert hit.lucene_docid == stock.search(texts[0], k=1)[0].lucene_docid
    query = java_impact_query({"f1": 7, "w_ab\"c": 300})  # JSON escaping
    assert query.size() == 2 and query.get('w_ab"c') == 300 and query.get("f1") == 7
    from pyserini.search.lucene import _impact_searcher

    monkeypatch.setattr(_impact_searcher, "LuceneImpactSearcher", LuceneImpactSearcher)
    search.install_one_call_searcher()
    assert _impact_searcher.LuceneImpactSearcher is SplareImpactSearcher


def test_jsonl_is_json_vector_collection(toy, shared_data):
    data, work = toy
    corpus_ids = [json.loads(line)["_id"] for line in open(data / "corpus.jsonl", encoding="utf-8")]
    lines = [json.loads(line) for part in sorted((work / "vectors").glob("part-*.jsonl")) for line in open(part)]
    assert [d["id"] for d in lines] == corpus_ids  # every id once, input order
    assert len(list((work / "vectors").iterdir())) == 3  # 89 docs / 32 per part, nothing else in the dir
    for doc in lines:
        assert set(doc) == {"id", "contents", "vector"}
        assert 1 <= len(doc["vector"]) <= 40
        assert all(isinstance(v, int) and v >= 1 for v in doc["vector"].values())
        assert all(k.startswith("f") and k[1:].isdigit() or k == "[unused0]" for k in doc["vector"])


def test_trec_eval_numbers_match_pytrec_eval(toy, tmp_path):
    data, work = toy
    lucene.search_impact(work / "index", work / "queries" / "queries.jsonl", work / "queries" / "topics.tsv",
                         work / "eval.run")
    qrels = write_trec_qrels(data / "qrels" / "test.tsv", tmp_path / "qrels.trec")
    scores = trec_eval(qrels, work / "eval.run", ["ndcg_cut_10", "recall_100"])
    per_query = pytrec_eval_scores(data / "qrels" / "test.tsv", work / "eval.run", {"ndcg_cut.10", "recall.100"})
    judged = read_run(work / "eval.run").keys() | per_query.keys()
    for metric, key in (("ndcg_cut_10", "ndcg_cut_10"), ("recall_100", "recall_100")):
        expected = sum(per_query.get(q, {}).get(key, 0.0) for q in per_query) / len(per_query)
        assert 0.0 <= scores[metric] <= 1.0
        assert scores[metric] == pytest.approx(expected, abs=1e-4)
    assert judged


def test_min_idf_minus_one_keeps_a_latent_present_in_every_document(tmp_path):
    from pyserini.search.lucene import LuceneImpactSearcher

    vectors = tmp_path / "vectors"
    vectors.mkdir()
    with open(vectors / "docs.jsonl", "w") as handle:
        for i in range(5):
            handle.write(json.dumps({"id": f"d{i}", "contents": "", "vector": {"f7": i + 1, f"f{100 + i}": 1}}) + "\n")
    lucene.index_impact(vectors, tmp_path / "index")

    class OneLatent:
        def encode(self, text, **kwargs):
            return {"f7": 3}

    dropped = LuceneImpactSearcher(str(tmp_path / "index"), OneLatent(), min_idf=0).search("q", k=5)
    kept = LuceneImpactSearcher(str(tmp_path / "index"), OneLatent(), min_idf=-1).search("q", k=5)
    assert dropped == [] or len(dropped) == 0  # Pyserini's default silently drops it (idf = log(5/5) = 0)
    assert [h.docid for h in kept] == ["d4", "d3", "d2", "d1", "d0"]
    assert [round(h.score) for h in kept] == [15, 12, 9, 6, 3]  # impact score = q_w * d_w


def test_mismatched_run_is_warned_with_counts(tmp_path, caplog):
    from splare_pyserini.lucene.trec_eval import check_run_against_qrels

    (tmp_path / "qrels").write_text("1 0 d1 1\n2 0 d2 1\n3 0 d3 1\n")
    (tmp_path / "run").write_text("1 Q0 d1 1 2.0 t\n9 Q0 d2 1 1.0 t\n8 Q0 d2 1 1.0 t\n")
    with caplog.at_level("WARNING"):
        assert check_run_against_qrels(tmp_path / "qrels", tmp_path / "run") == (2, 2)
    assert "2 queries have no qrels" in caplog.text and "2 judged queries retrieved nothing" in caplog.text


def test_hits_read_in_one_call_break_ties_as_anserini_does(tmp_path):
    """Many equal scores (each document three times under other ids, small weights): the one-call
    hits give Anserini's own ``search(Map, k)`` docids and tie-adjusted float scores exactly."""
    from pyserini.search.lucene import LuceneImpactSearcher

    from splare_pyserini.lucene import pyserini_cli as lucene
    from splare_pyserini.lucene.impact_searcher import ImpactHit, java_impact_query, search_java_query

    vectors = tmp_path / "vectors"
    vectors.mkdir()
    rows = [{"id": f"d{copy}-{i:02d}", "contents": "", "vector": {f"f{j}": 1 + (i * j) % 3 for j in range(i % 4, 6)}}
            for i in range(12) for copy in range(3)]
    (vectors / "part-0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    lucene.index_impact(vectors, tmp_path / "index")
    searcher = LuceneImpactSearcher(str(tmp_path / "index"), None, min_idf=-1)
    queries = [{"f1": 2, "f3": 1}, {"f0": 1, "f2": 3, "f4": 2, "f5": 1}, {"f5": 4}]
    search_java_query(searcher.object, java_impact_query(queries[0]), 5)  # the first call creates Anserini's IndexSearcher
    for query in queries:
        for k in (1, 7, 20, 36):
            mine = search_java_query(searcher.object, java_impact_query(query), k)
            theirs = searcher.object.search(java_impact_query(query), k)
            assert all(isinstance(h, ImpactHit) for h in mine)
            assert [(h.docid, h.lucene_docid, h.score) for h in mine] == [(h.docid, h.lucene_docid, h.score) for h in theirs]
    scores = [h.score for h in searcher.object.search(java_impact_query(queries[1]), 36)]
    assert len(set(scores)) > 10 and any(s != round(s) for s in scores)  # ties were adjusted: the check means something


def test_hits_past_the_kth_are_skipped_without_changing_the_top_k(tmp_path):
    """The one-call search counts hits only up to k (Lucene then skips documents that cannot enter
    the top k) and takes scores from the sort values: on 3,000 documents whose long posting lists
    let Lucene skip, the hits equal Anserini's own ``search(Map, k)`` (1,000-hit count, second
    scoring pass) at every depth."""
    import random

    from pyserini.search.lucene import LuceneImpactSearcher

    from splare_pyserini.lucene import pyserini_cli as lucene
    from splare_pyserini.lucene.impact_searcher import java_impact_query, search_java_query

    rng = random.Random(0)
    vectors = tmp_path / "vectors"
    vectors.mkdir()
    rows = [{"id": f"d{i}", "contents": "", "vector": {f"f{int(rng.paretovariate(0.7)) % 300}": rng.randint(1, 200)
                                                        for _ in range(40)}} for i in range(3000)]
    (vectors / "part-0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    lucene.index_impact(vectors, tmp_path / "index")
    searcher = LuceneImpactSearcher(str(tmp_path / "index"), None, min_idf=-1)
    queries = [{f"f{j}": rng.randint(1, 120) for j in rng.sample(range(30), 12)} for _ in range(6)]
    search_java_query(searcher.object, java_impact_query(queries[0]), 5)  # the first call creates Anserini's IndexSearcher
    for query in queries:
        for k in (1, 10, 100, 1000):
            mine = search_java_query(searcher.object, java_impact_query(query), k)
            theirs = searcher.object.search(java_impact_query(query), k)
            assert len(mine) == k
            assert [(h.docid, h.lucene_docid, h.score) for h in mine] == [(h.docid, h.lucene_docid, h.score) for h in theirs]


def test_the_direct_impact_search_falls_back_to_anserinis_call():
    """With RM3/Rocchio on (their rerankers read the text query) or an Anserini without ``_search``,
    queries go through Anserini's own ``search(Map, k)``."""
    from splare_pyserini.lucene.impact_searcher import search_java_query

    class Anserini:
        def __init__(self, rm3=False):
            self.rm3 = rm3

        def search(self, query, k):
            return ("anserini", query, k)

        def use_rm3(self):
            return self.rm3

        def use_rocchio(self):
            return False

    assert search_java_query(Anserini(), {"f1": 3}, 5) == ("anserini", {"f1": 3}, 5)  # no _search member

    class WithRm3(Anserini):
        def _search(self, query, text, k):
            raise AssertionError("the direct path must not run with RM3 on")

        def intToFloat(self, query):
            return query

    assert search_java_query(WithRm3(rm3=True), {"f1": 3}, 5)[0] == "anserini"
