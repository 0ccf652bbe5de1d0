"""eval.msmarco on the MS MARCO toy set (TSV collection, BEIR-layout topics)."""
import json

import pytest

from eval import msmarco
from splare_pyserini.lucene.trec_eval import pytrec_eval_scores


def test_msmarco_wrapper_on_the_toy_collection(shared_data, tiny_model_dir, tmp_path):
    toy = shared_data / "msmarco-toy"
    collection = toy / "original" / "full_collection" / "raw.tsv"
    out = tmp_path / "run"
    assert msmarco.main(["--collection", str(collection), "--topics", str(toy), "--encoder", str(tiny_model_dir),
                         "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())["msmarco-toy"]["splare"]
    run = out / "run.msmarco-passage-msmarco-toy.splare.txt"
    per_query = pytrec_eval_scores(toy / "qrels" / "test.tsv", run, {"ndcg_cut.10", "recall.1000"})
    n = 9
    assert results["ndcg_cut_10"] == pytest.approx(sum(q["ndcg_cut_10"] for q in per_query.values()) / n, abs=1e-4)
    assert results["recall_1000"] == pytest.approx(sum(q["recall_1000"] for q in per_query.values()) / n, abs=1e-4)
    assert 0 <= results["recip_rank_10"] <= 1


def test_named_topic_sets_map_to_the_shared_folders(shared_data):
    name, folder = msmarco.topic_folder("dl19", shared_data / "msmarco-topics")
    assert name == "dl19" and (folder / "queries.jsonl").exists()
    assert msmarco.METRICS["dl19"] == ["ndcg_cut_10", "recall_1000_rel2"]
    with pytest.raises(SystemExit, match="not one of"):
        msmarco.topic_folder("dl42", shared_data / "msmarco-topics")
