"""eval.beir on the MS MARCO toy set: every figure in results.json is recomputed from the run files."""
import json

import pytest

from eval import beir
from splare_pyserini.lucene import pyserini_cli as lucene
from splare_pyserini.lucene.trec_eval import pytrec_eval_scores, read_run


@pytest.fixture(scope="module")
def toy_results(shared_data, tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("beir-toy")
    assert beir.main(["--data", str(shared_data / "msmarco-toy"), "--encoder", str(tiny_model_dir),
                      "--out", str(out), "--batch-size", "4"]) == 0
    return out


def test_results_layout(toy_results):
    results = json.loads((toy_results / "results.json").read_text())
    assert set(results) == {"msmarco-toy"} and set(results["msmarco-toy"]) == set(beir.SYSTEMS)
    assert set(results["msmarco-toy"]["splare"]) == set(beir.METRICS)
    assert "| msmarco-toy | bm25-flat |" in (toy_results / "results.md").read_text()
    timings = json.loads((toy_results / "timings.json").read_text())
    assert {"encode corpus", "index splare", "search splare", "trec_eval"} <= set(timings["msmarco-toy"])


@pytest.mark.parametrize("system", beir.SYSTEMS)
def test_figures_match_pytrec_eval_on_the_run_files(toy_results, shared_data, system):
    results = json.loads((toy_results / "results.json").read_text())["msmarco-toy"][system]
    qrels = shared_data / "msmarco-toy" / "qrels" / "test.tsv"
    run_file = toy_results / f"run.msmarco-toy.{system}.txt"
    per_query = pytrec_eval_scores(qrels, run_file, {"ndcg_cut.10", "recall.100", "recall.1000"})
    n = len({line.split("\t")[0] for line in open(qrels) if not line.startswith("query-id")})
    for metric in ("ndcg_cut_10", "recall_100", "recall_1000"):
        assert results[metric] == pytest.approx(sum(q[metric] for q in per_query.values()) / n, abs=1e-4)
    run = read_run(run_file)
    top10 = {q: dict(sorted(d.items(), key=lambda kv: -kv[1])[:10]) for q, d in run.items()}
    import pytrec_eval
    from splare_pyserini.io.readers import read_qrels

    rr = pytrec_eval.RelevanceEvaluator(read_qrels(qrels), {"recip_rank"}).evaluate(top10)
    assert results["recip_rank_10"] == pytest.approx(sum(q["recip_rank"] for q in rr.values()) / n, abs=1e-4)


def test_run_files_are_valid_trec(toy_results):
    for system in beir.SYSTEMS:
        lines = open(toy_results / f"run.msmarco-toy.{system}.txt").read().splitlines()
        assert lines
        seen = set()
        for line in lines:
            qid, q0, docid, rank, score, tag = line.split()
            assert q0 == "Q0" and int(rank) >= 1 and float(score) == float(score)
            assert (qid, docid) not in seen
            seen.add((qid, docid))


def test_cached_encoding_is_reused_then_invalidated_by_a_new_model(toy_results, shared_data, tiny_model_dir, tmp_path):
    import shutil

    vectors = toy_results / "work" / "msmarco-toy" / "splare-vectors"
    before = {p.name: p.stat().st_mtime_ns for p in vectors.glob("*.jsonl")}
    beir.main(["--data", str(shared_data / "msmarco-toy"), "--encoder", str(tiny_model_dir), "--out", str(toy_results),
               "--no-bm25", "--batch-size", "4"])
    assert {p.name: p.stat().st_mtime_ns for p in vectors.glob("*.jsonl")} == before  # reused
    other = tmp_path / "other-model"
    shutil.copytree(tiny_model_dir, other)
    config = json.loads((other / "splare_config.json").read_text())
    config["doc_top_k"] = 5
    (other / "splare_config.json").write_text(json.dumps(config))
    beir.main(["--data", str(shared_data / "msmarco-toy"), "--encoder", str(other), "--out", str(toy_results), "--no-bm25",
               "--batch-size", "4"])
    docs = [json.loads(line) for p in sorted(vectors.glob("*.jsonl")) for line in open(p)]
    assert len(docs) == 89 and max(len(d["vector"]) for d in docs) <= 5  # re-encoded with the new model


def test_qrels_and_queries_mismatches_are_warned_with_counts(tmp_path, caplog):
    data = tmp_path / "mini"
    (data / "qrels").mkdir(parents=True)
    (data / "corpus.jsonl").write_text('{"_id": "d1", "title": "", "text": "a"}\n{"_id": "d2", "title": "", "text": "b"}\n')
    (data / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n{"_id": "q2", "text": "b"}\n{"_id": "q3", "text": "c"}\n')
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td9\t1\nq4\td2\t1\n")
    with caplog.at_level("WARNING"):
        topics, qrels = beir.judged_topics(data, tmp_path / "work")
    text = caplog.text
    assert "1 judged query ids have no text" in text and "q4" in text
    assert "2 queries without qrels are not searched" in text
    assert "1 qrels name 1 documents that are not in corpus.jsonl" in text and "d9" in text
    assert [json.loads(line)["_id"] for line in open(topics)] == ["q1"]
    assert open(qrels).read().splitlines() == ["q1 0 d1 1", "q1 0 d9 1", "q4 0 d2 1"]


def test_folder_names_that_pick_pyserini_topic_readers_do_not_break_the_run(shared_data, tiny_model_dir, tmp_path):
    """Pyserini reads a topics path containing ``cacm`` with its CACM reader and one containing ``beir``
    with a TSV-string reader, whatever the file is: a collection named ``cacm`` under an ``--out`` named
    ``beir-runs`` must give the runs it gives under plain names."""
    import shutil

    runs = {}
    for name, out_name in (("toy", "plain"), ("cacm", "beir-runs")):
        data, out = tmp_path / name, tmp_path / out_name
        shutil.copytree(shared_data / "msmarco-toy", data)
        assert beir.main(["--data", str(data), "--encoder", str(tiny_model_dir), "--out", str(out), "--batch-size", "4"]) == 0
        runs[name] = {system: sorted(open(out / f"run.{name}.{system}.txt").read().splitlines())
                      for system in ("splare", "bm25-flat")}
    assert all(runs["toy"].values()) and runs["cacm"] == runs["toy"]
    assert lucene.pyserini_topics(data / "queries.jsonl", tmp_path / "t").suffix == ".json"
    assert lucene.pyserini_topics(shared_data / "msmarco-toy" / "queries.jsonl") == shared_data / "msmarco-toy" / "queries.jsonl"


def test_judged_queries_missing_from_a_run_are_reported_in_the_results_tables(tmp_path):
    qrels, run = tmp_path / "qrels.trec", tmp_path / "run.txt"
    qrels.write_text("q1 0 d1 1\nq2 0 d2 1\nq3 0 d3 1\n")
    run.write_text("q1 Q0 d1 1 2.0 x\n")
    timer = beir.StageTimer()
    assert beir.report_missing_queries(qrels, run, "splare", timer) == 2
    assert timer.seconds == {"splare: judged queries with no hit (queries)": 2}
    assert "| d | splare: judged queries with no hit (queries) | 2 |" in beir.timings_table({"d": timer.seconds})
