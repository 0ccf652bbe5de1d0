"""Smoke-and-sanity tests of the benchmark scripts eval.bench_topk, eval.bench_latency, eval.bench_postings,
eval.bench_encode and eval.layer_sweep: each runs its main() on a 20-document, 3-query slice of the MS MARCO
toy set with the tiny stand-in model, small grids and one repeat, and its JSON and PNG outputs are checked
for the documented keys, finite in-range numbers and internal consistency. Everything is written under
tmp_path (never eval/results/)."""
from __future__ import annotations

import json
import math
import struct

import pytest

from eval import beir, bench_encode, bench_latency, bench_postings, bench_seismic, bench_topk, layer_sweep
from splare_pyserini.lucene import java_env, pyserini_cli as lucene
from splare_pyserini.lucene.trec_eval import pytrec_eval_scores
from splare_pyserini.modeling.stand_ins import TINY_LAYER, build_tiny_sae

java_env.configure()

QUERIES = ("1048642", "524447", "786674")  # judged toy queries whose relevant documents are all in the corpus
DOCS = 20


def assert_png(path, min_bytes=5_000):
    """A complete PNG of the scripts' figure size (5 x 3.2 in at 120 dpi), with something drawn in it."""
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and data[-8:-4] == b"IEND", path
    assert struct.unpack(">II", data[16:24]) == (600, 384), path
    assert len(data) > min_bytes, path
    with Image.open(path) as image:
        image.verify()


def finite(*values):
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


@pytest.fixture(scope="module")
def mini(shared_data, tmp_path_factory):
    """BEIR folder: 3 judged MS MARCO toy queries, their relevant documents and the first others, 20 in all."""
    src = shared_data / "msmarco-toy"
    qrels = [line.split("\t") for line in (src / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    qrels = [row for row in qrels if row[0] in QUERIES]
    relevant = {row[1] for row in qrels}
    docs = [json.loads(line) for line in open(src / "corpus.jsonl", encoding="utf-8")]
    others = [d for d in docs if d["_id"] not in relevant][: DOCS - len(relevant)]
    keep = relevant | {d["_id"] for d in others}
    data = tmp_path_factory.mktemp("bench") / "mini"
    (data / "qrels").mkdir(parents=True)
    (data / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs if d["_id"] in keep))
    (data / "queries.jsonl").write_text("".join(line for line in open(src / "queries.jsonl", encoding="utf-8")
                                                if json.loads(line)["_id"] in QUERIES))
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join("\t".join(r) + "\n" for r in qrels))
    assert len(keep) == DOCS and len(relevant) == 4
    return data


@pytest.fixture(scope="module")
def beir_run(mini, tiny_model_dir, tmp_path_factory):
    """What ``python -m eval.beir`` leaves in RUN_DIR/work/mini (both indexes, encoded queries), made by eval.beir
    itself with its search and fusion subprocesses stubbed out, so no run file is scored either (bench_latency
    and bench_postings read the indexes and encoded queries only)."""
    run_dir = tmp_path_factory.mktemp("beir-run")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("search_impact", "search_bm25", "fuse_rrf", "fuse_interpolation"):
            patch.setattr(lucene, name, lambda *args, **kwargs: [])
        assert beir.main(["--data", str(mini), "--encoder", str(tiny_model_dir), "--out", str(run_dir),
                          "--batch-size", "8", "--threads", "1"]) == 0
    work = run_dir / "work" / "mini"
    for path in ("splare-index", "bm25-index", "splare-queries/queries.jsonl", "splare-queries/topics.tsv"):
        assert (work / path).exists(), path
    return run_dir


# --- eval.bench_topk -------------------------------------------------------------------------------------


def test_bench_topk_grid(mini, tiny_model_dir, tmp_path):
    out = tmp_path / "topk"
    argv = ["--data", str(mini), "--encoder", str(tiny_model_dir), "--out", str(out), "--batch-size", "8",
            "--doc-ks", "40", "8", "--query-ks", "4", "8"]
    assert bench_topk.main(argv) == 0
    result = json.loads((out / "topk.json").read_text())
    assert set(result) == {"command", "dataset", "queries", "encode", "rows"}
    assert result["command"] == "python -m eval.bench_topk " + " ".join(argv)
    assert result["dataset"] == "mini" and result["queries"] == len(QUERIES)
    assert result["encode"]["encode corpus (docs)"] == DOCS
    rows = result["rows"]
    assert [(r["doc_k"], r["query_k"]) for r in rows] == [(8, 4), (8, 8), (40, 4), (40, 8)]
    work = out / "work"
    for row in rows:
        assert set(row) == {"doc_k", "query_k", "ndcg_cut_10", "recall_100", "search_p50_ms", "index_bytes"}
        assert finite(*row.values())
        assert 0 <= row["ndcg_cut_10"] <= 1 and 0 <= row["recall_100"] <= 1
        assert row["search_p50_ms"] > 0 and row["index_bytes"] > 0
        # The figures are trec_eval's on the run file the row was searched into (checked with pytrec_eval).
        per_query = pytrec_eval_scores(mini / "qrels" / "test.tsv", work / f"run.d{row['doc_k']}.q{row['query_k']}.txt",
                                       {"ndcg_cut.10", "recall.100"})
        for metric in ("ndcg_cut_10", "recall_100"):
            assert row[metric] == pytest.approx(sum(q[metric] for q in per_query.values()) / len(QUERIES), abs=1e-4)
    sizes = {k: {r["index_bytes"] for r in rows if r["doc_k"] == k} for k in (8, 40)}
    assert len(sizes[8]) == len(sizes[40]) == 1  # one index per document k, whatever the query k
    assert sizes[8].pop() < sizes[40].pop()
    # Smaller k keep the strongest impacts of the vectors encoded once at the largest k.
    full = {d["id"]: d["vector"] for p in (work / "vectors-k40").glob("*.jsonl") for d in map(json.loads, open(p))}
    small = {d["id"]: d["vector"] for p in (work / "vectors-k8").glob("*.jsonl") for d in map(json.loads, open(p))}
    assert len(full) == len(small) == DOCS and 8 < max(map(len, full.values())) <= 40
    for docid, vector in small.items():
        assert vector == bench_topk.strongest(full[docid], 8) and len(vector) == min(8, len(full[docid]))
    for query_k in (4, 8):
        queries = [json.loads(line) for line in open(work / f"queries-k{query_k}.jsonl")]
        assert len(queries) == len(QUERIES) and all(0 < len(q["vector"]) <= query_k for q in queries)
    assert_png(out / "topk_ndcg.png")
    assert_png(out / "topk_latency.png")


def test_strongest_breaks_ties_by_name():
    assert bench_topk.strongest({"f9": 3, "f2": 5, "f1": 3, "f4": 1}, 3) == {"f2": 5, "f1": 3, "f9": 3}
    assert bench_topk.strongest({"f1": 1}, 5) == {"f1": 1}


# --- eval.bench_seismic ----------------------------------------------------------------------------------


def test_bench_seismic(beir_run, tmp_path, monkeypatch):
    pytest.importorskip("seismic")
    monkeypatch.setattr(bench_seismic, "WARM_UP_CALLS", 10)  # timings are not what this test checks
    out = tmp_path / "seismic"
    argv = ["--run-dir", str(beir_run), "--dataset", "mini", "--scale", "2", "--query-cuts", "3", "1000",
            "--heap-factors", "1.0", "--n-postings", "4000", "5", "--repeats", "1", "--out", str(out)]
    assert bench_seismic.main(argv) == 0
    result = json.loads((out / "seismic.mini.json").read_text())
    assert list(result["corpora"]) == ["1x", "2x"] and result["command"].endswith(" ".join(argv))
    one, two = result["corpora"]["1x"], result["corpora"]["2x"]
    assert two["documents"] == 2 * one["documents"] and one["seismic_index_bytes"] > 0
    systems = one["systems"]
    assert {"bm25-flat", "splare-lucene", "seismic cut=3 heap=1.0", "seismic cut=1000 heap=1.0", result["shipped"]} <= set(systems)
    pruned = one["seismic_builds"]["seismic[n_postings=5]"]  # the build-knob sweep: an index per point,
    unpruned = one["seismic_builds"]["seismic[n_postings=4000]"]  # and the shipped build added (n_postings from its share)
    assert pruned["config"]["n_postings"] == 5 and pruned["index_bytes"] < unpruned["index_bytes"]
    assert one["seismic_builds"]["seismic"]["config"]["n_postings"] >= 1 and one["seismic_index_bytes"] > 0
    assert "seismic[n_postings=5] cut=3 heap=1.0" in systems and "seismic[n_postings=5] cut=3 heap=1.0" not in two["systems"]
    whole = systems["seismic[n_postings=4000] cut=1000 heap=1.0"]  # every posting, the whole query (summaries
    # still approximate: not exact); the shipped build prunes postings too
    assert whole["overlap@10_with_exact"] >= 0.8 and systems["splare-lucene"]["overlap@10_with_exact"] == 1.0
    assert 0 <= whole["ndcg@10"] <= 1
    for row in systems.values():
        assert row["p50_ms@10"] > 0 and row["over_bm25@100"] == pytest.approx(
            row["p50_ms@100"] / systems["bm25-flat"]["p50_ms@100"], abs=0.006)
    assert "ndcg@10" not in two["systems"]["splare-lucene"]  # the copies are unjudged
    assert result["chosen_on_this_set"] and result["chosen_on_this_set"].startswith("seismic")
    assert_png(out / "seismic.mini.depth.png") and assert_png(out / "seismic.mini.quality.png")

    swept = tmp_path / "swept"  # --sweep-scaled: every point on the repeated corpus too, judged through its copies
    assert bench_seismic.main([*argv[:-1], str(swept), "--sweep-scaled"]) == 0
    two = json.loads((swept / "seismic.mini.json").read_text())["corpora"]["2x"]["systems"]
    assert "seismic[n_postings=5] cut=3 heap=1.0" in two and 0 <= two["splare-lucene"]["ndcg@10"] <= 1
    assert two["bm25-flat"]["ndcg@10"] > 0  # the copies of judged documents count as judged
    assert json.loads((swept / "seismic.mini.json").read_text())["chosen_on_this_set_2x"].startswith("seismic")
    assert_png(swept / "seismic.mini.2x.quality.png")
    assert bench_seismic.repeated_qrels({"q": {"d": 1}}, 3) == {"q": {"d": 1, "d#1": 1, "d#2": 1}}


def test_seismic_build_sweep_is_the_product_of_the_swept_knobs_named_by_what_differs():
    points = bench_seismic.build_points({"n_postings": [1000, None], "summary_energy": [0.4],
                                         "centroid_fraction": [0.05, 0.1]})
    assert points == [{"n_postings": n, "summary_energy": 0.4, "centroid_fraction": c}
                      for n in (1000, None) for c in (0.05, 0.1)]
    assert [bench_seismic.build_name(p) for p in points] == [
        "seismic[n_postings=1000,centroid_fraction=0.05]", "seismic[n_postings=1000]",
        "seismic[centroid_fraction=0.05]", "seismic"]  # shipped: n_postings from the share, fraction 0.1


# --- eval.bench_latency ----------------------------------------------------------------------------------


def test_bench_latency(beir_run, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "latency"
    argv = ["--run-dir", str(beir_run), "--dataset", "mini", "--repeats", "2", "--hits", "100",
            "--encoder", str(tiny_model_dir), "--no-stored-fields", "--depths", "10", "3", "--out", str(out)]
    assert bench_latency.main(argv) == 0
    result = json.loads((out / "latency.mini.json").read_text())
    printed = capsys.readouterr().out
    assert json.loads(printed[printed.index("{\n"):]) == result  # the printed report is the file
    assert result["command"] == "python -m eval.bench_latency " + " ".join(argv)
    assert result["queries"] == len(QUERIES) and result["hits"] == 100
    suffix = " (no stored fields)"
    stock = "splare-pyserini-stock"  # Pyserini's own searcher, one Java call per query term
    assert set(result["systems"]) == {name + tail for name in ("splare", stock, "bm25-flat") for tail in ("", suffix)}
    work = beir_run / "work" / "mini"
    indexes = {"splare": "splare-index", "bm25-flat": "bm25-index", stock: "splare-index",
               "splare" + suffix: "splare-index-nostore", "bm25-flat" + suffix: "bm25-index-nostore",
               stock + suffix: "splare-index-nostore"}
    for name, index in indexes.items():
        s = result["systems"][name]
        assert {"search_p50_ms", "search_p95_ms", "java_search_p50_ms", "java_search_p95_ms", "qps_1_thread",
                "qps_2_threads", "mean_hits_returned", "index_bytes"} <= set(s)
        assert finite(*s.values()) and all(v > 0 for v in s.values())
        assert s["search_p50_ms"] <= s["search_p95_ms"] and s["java_search_p50_ms"] <= s["java_search_p95_ms"]
        assert s["search_p50_ms"] < 5_000 and s["qps_1_thread"] < 1e6 and s["mean_hits_returned"] <= 100
        assert s["index_bytes"] == bench_latency.dir_size(work / index)
    # the minimal indexes store nothing but ids: smaller, the same postings (the same hits come back)
    for name in ("splare", "bm25-flat"):
        full, bare = result["systems"][name], result["systems"][name + suffix]
        assert bare["index_bytes"] < full["index_bytes"] and bare["mean_hits_returned"] == full["mean_hits_returned"]
    from pyserini.index.lucene import LuceneIndexReader

    bare, full = LuceneIndexReader(str(work / "splare-index-nostore")), LuceneIndexReader(str(work / "splare-index"))
    assert bare.stats() == full.stats()  # same documents, terms and postings
    docid = bare.convert_internal_docid_to_collection_docid(0)
    assert bare.doc_raw(docid) is None and full.doc_raw(docid)
    # the depth sweep: hits returned never exceed k, and grow with k as the searchers do
    assert list(result["depth_sweep"]) == ["3", "10"]
    for k, row in result["depth_sweep"].items():
        assert 0 < row["splare_mean_hits"] <= int(k) and 0 < row["bm25-flat_mean_hits"] <= int(k)
        assert row["p50_ratio"] == pytest.approx(row["splare_p50_ms"] / row["bm25-flat_p50_ms"], abs=0.006)
        assert row["java_p50_ratio"] == pytest.approx(row["splare_java_p50_ms"] / row["bm25-flat_java_p50_ms"], abs=0.006)
        assert all(row[f"{n}_java_p50_ms"] > 0 for n in ("splare", "bm25-flat"))
    assert result["depth_sweep"]["3"]["splare_mean_hits"] <= result["depth_sweep"]["10"]["splare_mean_hits"]
    assert_png(out / "latency.mini.depth.png")
    s, b = result["systems"]["splare"], result["systems"]["bm25-flat"]
    assert 0 < s["query_encode_p50_ms"] <= s["query_encode_p95_ms"] < 10_000
    for ratios, tail in (("splare_over_bm25", ""), ("splare_over_bm25_no_stored_fields", suffix)):
        s, b = result["systems"]["splare" + tail], result["systems"]["bm25-flat" + tail]
        for key, field in (("search_p50", "search_p50_ms"), ("java_search_p50", "java_search_p50_ms"),
                           ("index_size", "index_bytes")):
            assert result[ratios][key] == pytest.approx(s[field] / b[field], abs=0.006)


def test_percentile():
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert [bench_latency.percentile(values, q) for q in (0, 0.5, 0.95, 1)] == [1.0, 3.0, 5.0, 5.0]
    assert bench_latency.percentile([7.0], 0.95) == 7.0


def test_bench_latency_without_an_index_fails_and_writes_nothing(beir_run, tiny_model_dir, tmp_path):
    """A run directory made with ``eval.beir --no-bm25`` has no BM25 index: no numbers, an error naming it."""
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(beir_run / "work" / "mini", run_dir / "work" / "mini",
                    ignore=lambda d, names: [n for n in names if n == "bm25-index"])
    out = tmp_path / "latency"
    with pytest.raises(BaseException, match="bm25-index"):
        bench_latency.main(["--run-dir", str(run_dir), "--dataset", "mini", "--repeats", "1",
                            "--encoder", str(tiny_model_dir), "--out", str(out)])
    assert not (out / "latency.mini.json").exists()


# --- eval.bench_postings ---------------------------------------------------------------------------------


def test_bench_postings(beir_run, tmp_path, capsys):
    out = tmp_path / "postings"
    argv = ["--run-dir", str(beir_run), "--dataset", "mini", "--out", str(out)]
    assert bench_postings.main(argv) == 0
    result = json.loads((out / "postings.mini.json").read_text())
    printed = capsys.readouterr().out
    assert json.loads(printed[printed.index("{\n"):]) == result
    assert result["command"] == "python -m eval.bench_postings " + " ".join(argv)
    assert set(result["indexes"]) == {"SPLARE latents", "BM25 words"}
    for stats in result["indexes"].values():
        assert set(stats) == {"terms", "postings", "max_df", "p50_df", "p90_df", "p99_df",
                              "share_of_postings_in_top_1pct_lists"}
        assert finite(*stats.values())
        assert 0 < stats["terms"] <= stats["postings"] <= stats["terms"] * DOCS
        assert 1 <= stats["p50_df"] <= stats["p90_df"] <= stats["p99_df"] <= stats["max_df"] <= DOCS
        assert 0 < stats["share_of_postings_in_top_1pct_lists"] <= 1
    # SPLARE postings are exactly the (document, latent) pairs of the encoded vectors.
    work = beir_run / "work" / "mini"
    vectors = [json.loads(line) for p in (work / "splare-vectors").glob("*.jsonl") for line in open(p)]
    assert len(vectors) == DOCS
    latents = {name for v in vectors for name in v["vector"]}
    splare = result["indexes"]["SPLARE latents"]
    assert splare["postings"] == sum(len(v["vector"]) for v in vectors)
    assert splare["terms"] == len(latents)
    assert splare["max_df"] == max(sum(name in v["vector"] for v in vectors) for name in latents)
    lengths = bench_postings.posting_lengths(work / "splare-index")
    assert sum(lengths) == splare["postings"] and lengths == sorted(lengths, reverse=True)
    assert_png(out / "postings.mini.png")


def test_postings_summary():
    lengths = [50] + [2] * 99 + [1] * 100  # 200 lists: the top 1% is the two longest
    stats = bench_postings.summary(lengths)
    assert stats == {"terms": 200, "postings": 348, "max_df": 50, "p50_df": 2, "p90_df": 2, "p99_df": 2,
                     "share_of_postings_in_top_1pct_lists": round(52 / 348, 4)}
    assert bench_postings.summary([3])["share_of_postings_in_top_1pct_lists"] == 1.0


def test_bench_postings_without_an_index_fails_and_writes_nothing(beir_run, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(beir_run / "work" / "mini" / "splare-index", run_dir / "work" / "mini" / "splare-index")
    out = tmp_path / "postings"
    with pytest.raises(BaseException, match="bm25-index"):
        bench_postings.main(["--run-dir", str(run_dir), "--dataset", "mini", "--out", str(out)])
    assert not (out / "postings.mini.json").exists() and not (out / "postings.mini.png").exists()


# --- eval.bench_encode -----------------------------------------------------------------------------------


def test_bench_encode(mini, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "encode"
    argv = ["--data", str(mini), "--docs", "8", "--encoder", str(tiny_model_dir), "--batch-size", "4",
            "--repeats", "1", "--variants", "--out", str(out)]
    assert bench_encode.main(argv) == 0
    result = json.loads((out / "encode_speed.json").read_text())
    assert json.loads(capsys.readouterr().out) == result
    assert result["command"] == "python -m eval.bench_encode " + " ".join(argv)
    assert {"command", "model", "layer", "dtype", "threads", "docs", "tokens", "batch_size", "backbone_tokens_per_s",
            "splare_tokens_per_s", "splare_docs_per_s", "overhead_vs_backbone", "matmul_gflops", "gflop_per_token",
            "roofline_tokens_per_s", "splare_fraction_of_roofline", "variants", "batched_tokens_per_s",
            "batch_invariant_vs_batched", "split_kernels_tokens_per_s", "one_text_per_thread_vs_split_kernels"} == set(result)
    assert result["batched_tokens_per_s"] > 0 and result["batch_invariant_vs_batched"] > 0
    assert result["split_kernels_tokens_per_s"] > 0 and result["one_text_per_thread_vs_split_kernels"] > 0
    assert result["layer"] == TINY_LAYER and result["dtype"] == "float32" and result["threads"] >= 1
    assert result["docs"] == 8 and result["batch_size"] == 4
    numbers = {k: v for k, v in result.items() if k not in ("command", "model", "dtype", "variants")}
    assert finite(*numbers.values())
    # Every document has a token or more, and none more than the backbone's maximum length.
    from splare_pyserini.modeling.model import SplareModel

    model = SplareModel.from_pretrained(tiny_model_dir)
    assert 8 <= result["tokens"] <= 8 * model.backbone.max_seq_length
    assert result["backbone_tokens_per_s"] > 0 and result["splare_tokens_per_s"] > 0
    assert result["overhead_vs_backbone"] > -1

    assert result["splare_docs_per_s"] == pytest.approx(result["splare_tokens_per_s"] * 8 / result["tokens"], rel=0.02)
    assert result["matmul_gflops"] > 0 and result["gflop_per_token"] > 0
    # The roofline counts layers 0..l of the truncated backbone plus the SAE encoder.
    assert len(model.backbone.model.layers) == TINY_LAYER + 1
    per_token = bench_encode.flops_per_token(model, result["tokens"] / 8)
    assert result["gflop_per_token"] == round(per_token / 1e9, 4)
    assert result["roofline_tokens_per_s"] == pytest.approx(result["matmul_gflops"] * 1e9 / per_token, rel=0.01)
    assert 0 < result["splare_fraction_of_roofline"] < 1  # a 64-wide model is far from a 2048 matmul's speed
    sae_variants = {"bfloat16, length-sorted, float32 SAE (the model's setting)", "bfloat16, length-sorted, bfloat16 SAE"}
    assert set(result["variants"]) == {f"{d}, {o}" for d in ("float32", "bfloat16") for o in ("input order", "length-sorted")} | {
        "bfloat16, sorted by characters, float32 SAE, padded latents + module pooling (before)"} | sae_variants
    for label, variant in result["variants"].items():
        keys = {"tokens_per_s", "docs_per_s"} | ({"fraction_of_roofline"} if label in sae_variants else set())
        assert set(variant) == keys and finite(*variant.values())
        assert variant["tokens_per_s"] > 0 and variant["docs_per_s"] > 0
    for label in sae_variants:
        variant = result["variants"][label]
        assert variant["fraction_of_roofline"] == pytest.approx(variant["tokens_per_s"] / result["roofline_tokens_per_s"], abs=0.002)


def test_batched_forward_is_the_old_padded_encoder_and_is_undone(tiny_model):
    """The benchmark's "before": one padded forward and one SAE call per batch, the same vectors up to
    float rounding on the float32 stand-in, and the model's own per-text methods back afterwards."""
    texts = ["a short one", "a much longer text about lenses and eyes in vertebrates", "mid length text"]
    alone = tiny_model.encode(texts, "document", batch_size=3)
    with bench_encode.batched_forward(tiny_model):
        assert "_run_each" in vars(tiny_model.backbone) and "encode_each_text" in vars(tiny_model.sae)
        batched = tiny_model.encode(texts, "document", batch_size=3)
    assert "_run_each" not in vars(tiny_model.backbone) and "encode_each_text" not in vars(tiny_model.sae)
    for a, b in zip(alone, batched):
        assert a.keys() == b.keys() and list(b.values()) == pytest.approx([a[k] for k in b], rel=1e-4, abs=1e-5)


def test_batches_are_sorted_by_the_given_lengths_and_complete():
    texts = ["aa", "a", "aaaa", "aaa", "aaaaa"]
    assert list(bench_encode.batches(texts, 2, [len(t) for t in texts])) == [["aaaaa", "aaaa"], ["aaa", "aa"], ["a"]]
    assert list(bench_encode.batches(texts, 2, [5, 4, 3, 2, 1])) == [["aa", "a"], ["aaaa", "aaa"], ["aaaaa"]]


# --- eval.layer_sweep ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def layer_1_sae(tmp_path_factory):
    return build_tiny_sae(tmp_path_factory.mktemp("tiny-sae-l1"), layer=1)


def sweep_argv(mini, backbone, sae_dirs, out, *extra):
    return ["--backbone", str(backbone), "--torch-dtype", "float32", "--sae-dirs", *map(str, sae_dirs),
            "--corpus", str(mini / "corpus.jsonl"), "--queries", str(mini / "queries.jsonl"),
            "--qrels", str(mini / "qrels" / "test.tsv"), "--batch-size", "8", "--out", str(out), *extra]


def test_layer_sweep(mini, tiny_backbone_dir, tiny_sae_dir, layer_1_sae, tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = sweep_argv(mini, tiny_backbone_dir, [layer_1_sae, tiny_sae_dir], out)
    assert layer_sweep.main(argv) == 0
    result = json.loads((out / "results.json").read_text())
    assert set(result) == {"command", "docs", "queries", "backbone", "torch_dtype", "rows"}
    assert result["command"] == "python -m eval.layer_sweep " + " ".join(argv)
    assert result["docs"] == DOCS and result["queries"] == len(QUERIES)
    assert result["backbone"] == str(tiny_backbone_dir) and result["torch_dtype"] == "float32"
    rows = result["rows"]
    assert [(r["sae"], r["layer"], r["d_sae"]) for r in rows] == [(str(layer_1_sae), 1, 512), (str(tiny_sae_dir), TINY_LAYER, 512)]
    from splare_pyserini.modeling.model import SplareConfig

    config = SplareConfig()
    for row in rows:
        assert {"ndcg_cut_10", "recall_100", "doc_encode_seconds", "mean_doc_latents", "mean_query_latents"} <= set(row)
        assert finite(row["ndcg_cut_10"], row["recall_100"], row["doc_encode_seconds"], row["mean_doc_latents"],
                      row["mean_query_latents"])
        assert 0 <= row["ndcg_cut_10"] <= 1 and 0 <= row["recall_100"] <= 1 and row["doc_encode_seconds"] >= 0
        assert 0 < row["mean_doc_latents"] <= min(config.doc_top_k, 512)
        assert 0 < row["mean_query_latents"] <= min(config.query_top_k, 512)
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"layer {r['layer']:>2}  width {r['d_sae']:>6}  nDCG@10 {r['ndcg_cut_10']:.4f}  "
                       f"R@100 {r['recall_100']:.4f}" for r in rows]
    assert_png(out / "layer_sweep.png")
    # Rerun on the same dev set: measured rows are reused, as documented.
    (out / "layer_sweep.png").unlink()
    assert layer_sweep.main(argv) == 0
    assert json.loads((out / "results.json").read_text())["rows"] == rows
    assert_png(out / "layer_sweep.png")


def test_layer_sweep_does_not_reuse_rows_of_another_setup(mini, tiny_backbone_dir, tiny_sae_dir, tmp_path):
    """Rows measured with another dev set, backbone or dtype are stale: they must be measured again."""
    out = tmp_path / "sweep"
    assert layer_sweep.main(sweep_argv(mini, tiny_backbone_dir, [tiny_sae_dir], out)) == 0
    fake = json.loads((out / "results.json").read_text())
    fake["rows"][0]["ndcg_cut_10"] = 7.0  # an impossible value, to see whether it is reused
    (out / "results.json").write_text(json.dumps(fake))
    assert layer_sweep.main(sweep_argv(mini, tiny_backbone_dir, [tiny_sae_dir], out)) == 0
    assert json.loads((out / "results.json").read_text())["rows"][0]["ndcg_cut_10"] == 7.0  # same setup: reused
    other_backbone = tmp_path / "same-weights-other-name"
    other_backbone.symlink_to(tiny_backbone_dir, target_is_directory=True)
    for backbone, extra in ((tiny_backbone_dir, ["--max-queries", "2"]), (other_backbone, []),
                            (tiny_backbone_dir, ["--torch-dtype", "bfloat16"])):
        (out / "results.json").write_text(json.dumps(fake))
        assert layer_sweep.main(sweep_argv(mini, backbone, [tiny_sae_dir], out, *extra)) == 0
        result = json.loads((out / "results.json").read_text())
        assert 0 <= result["rows"][0]["ndcg_cut_10"] <= 1, extra  # measured again
        assert result["backbone"] == str(backbone) and result["torch_dtype"] == (extra[1] if "--torch-dtype" in extra else "float32")


def test_impact_matrix_ignores_the_placeholder_term():
    matrix = layer_sweep.impact_matrix([{"f3": 2, "f0": 1}, {"[unused0]": 1}], 5)
    assert matrix.tolist() == [[1, 0, 0, 2, 0], [0, 0, 0, 0, 0]]


def test_sae_test_text_table_pairs_the_two_runs_by_dataset(tmp_path):
    from eval import sae_test_text

    def run(folder, values, bm25=None):
        folder.mkdir()
        rows = {f"/data/{name}": {"splare": {"ndcg_cut_10": v, "recall_100": v + 0.1},
                                  **({"bm25-flat": {"ndcg_cut_10": bm25}} if bm25 else {})} for name, v in values.items()}
        (folder / "results.json").write_text(json.dumps(rows))
        return folder

    shipped = [run(tmp_path / "a", {"medline": 0.42, "cranfield": 0.1}, bm25=0.6), run(tmp_path / "a2", {"scifact": 0.34}, bm25=0.6)]
    ablation = [run(tmp_path / "b", {"medline": 0.40, "scifact": 0.35})]
    log = tmp_path / "log.json"
    log.write_text(json.dumps({"train_tokens": 1200000, "explained_variance": 0.9, "latents_never_fired_on_eval": 7}))
    out = tmp_path / "out"
    assert sae_test_text.main(["--shipped", *map(str, shipped), "--ablation", *map(str, ablation), "--sae-log", str(log),
                               "--shipped-sae-log", str(log), "--out", str(out)]) == 0
    result = json.loads((out / "results.json").read_text())
    assert [(r["dataset"], r["delta_ndcg_cut_10"], r["bm25_ndcg_cut_10"]) for r in result["rows"]] == [
        ("medline", -0.02, 0.6), ("scifact", 0.01, 0.6)]  # cranfield is in one run only
    assert result["saes"]["no_test_text"]["latents_never_fired_on_eval"] == 7
    assert "| medline | 0.4200 / 0.5200 | 0.4000 / 0.5000 | -0.0200 | 0.6000 |" in (out / "results.md").read_text()
    assert_png(out / "sae_test_text.png")


def test_model_comparison_gives_each_difference_its_paired_standard_error(tmp_path):
    from eval import model_comparison

    qrels = {"q1": "d1", "q2": "d2", "q3": "d3"}

    def run(folder, systems):
        (folder / "work" / "toy").mkdir(parents=True)
        (folder / "work" / "toy" / "qrels.test.trec").write_text("".join(f"{q} 0 {d} 1\n" for q, d in qrels.items()))
        results = {}
        for system, ranks in systems.items():  # ranks: where each query's relevant document lands (None: not found)
            lines = []
            for (qid, rel), rank in zip(qrels.items(), ranks):
                docs = [f"x{i}" for i in range(3)]
                if rank is not None:
                    docs.insert(rank - 1, rel)
                lines += [f"{qid} Q0 {d} {i + 1} {10 - i} s\n" for i, d in enumerate(docs)]
            (folder / f"run.toy.{system}.txt").write_text("".join(lines))
            results[system] = {"ndcg_cut_10": sum(1 / math.log2(r + 1) for r in ranks if r) / 3}
        (folder / "results.json").write_text(json.dumps({"toy": results}))
        return folder

    new = run(tmp_path / "new", {"splare": [1, 1, 2], "bm25-flat": [1, 3, None]})
    old = run(tmp_path / "old", {"splare": [2, 1, None], "bm25-flat": [1, 1, 1]})  # its BM25 is not the one kept
    out = tmp_path / "out"
    assert model_comparison.main(["--run", f"new={new}", "--run", f"old={old}", "--out", str(out)]) == 0
    result = json.loads((out / "results.json").read_text())
    assert set(result["scores"]["toy"]) == {"new", "bm25-flat", "old"}
    ideal = [1.0, 1.0, 1 / math.log2(3)]  # new's per-query nDCG@10
    for row, other in (("old", [1 / math.log2(3), 1.0, 0.0]), ("bm25-flat", [1.0, 0.5, 0.0])):
        diffs = [a - b for a, b in zip(ideal, other)]
        mean = sum(diffs) / 3
        se = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2 / 3)
        got = result["differences"]["toy"][row]
        assert (got["difference"], got["standard_error"], got["queries"]) == (round(mean, 4), round(se, 4), 3)
    assert "| toy | 0.8770 |" in (out / "results.md").read_text()
    assert_png(out / "model_comparison.png")
