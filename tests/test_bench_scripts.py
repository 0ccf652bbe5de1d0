"""eval.bench_memory and eval.bench_determinism on 20 tiny documents with the tiny model: sane JSON."""
import json
import os

from eval import bench_determinism, bench_memory


def write_docs(path, n=20):
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            handle.write(json.dumps({"_id": f"d{i}", "title": f"title {i}", "text": "a small document " * (i % 7 + 1)}) + "\n")
    return path


def test_repeated_corpus_is_streamed_with_suffixed_ids(tmp_path):
    corpus = write_docs(tmp_path / "corpus.jsonl", 5)
    assert bench_memory.write_repeated(corpus, tmp_path / "x3.jsonl", 3, limit=4) == 12
    rows = [json.loads(line) for line in open(tmp_path / "x3.jsonl", encoding="utf-8")]
    assert [r["id"] for r in rows] == [f"d{i}-r{r}" for r in range(3) for i in range(4)]
    assert rows[0]["contents"] == rows[4]["contents"] == "title 0 a small document"


def test_bench_memory_on_tiny_input(tmp_path, tiny_model_dir, monkeypatch):
    for name in [n for n in os.environ if n.startswith(bench_memory.ALLOCATOR_ENV)]:  # recorded in the command
        monkeypatch.delenv(name)
    corpus = write_docs(tmp_path / "corpus.jsonl")
    out = tmp_path / "memory"
    argv = ["--data", str(corpus), "--encoder", str(tiny_model_dir), "--scales", "1", "2", "--label", "tiny", "--out", str(out)]
    assert bench_memory.main(argv) == 0
    run = json.loads((out / "results.json").read_text())["runs"]["tiny"]
    assert run["command"] == "python -m eval.bench_memory " + " ".join(argv)
    assert [s["scale"] for s in run["scales"]] == [1, 2] and [s["docs"] for s in run["scales"]] == [20, 40]
    for scale in run["scales"]:
        assert 100 < scale["peak_rss_mib"] < 16_000  # torch + the tiny model: hundreds of MiB
        # 20 tiny documents can encode in under the encoder's 0.1 s print resolution: docs/s is then None
        assert scale["docs_per_s"] is None or scale["docs_per_s"] > 0
        assert scale["wall_s"] >= scale["encode_s"] >= 0 and scale["docs_per_s_wall"] > 0 and scale["cpu_s"] > 0
        assert scale["timeline"] and max(rss for _, rss in scale["timeline"]) <= scale["peak_rss_mib"] + 1
    assert run["complete"] and 0.8 < run["peak_rss_ratio"] < 1.25
    assert all(s["late_rss_mib"] <= s["peak_rss_mib"] + 1 for s in run["scales"]) and abs(run["late_rss_growth_mib"]) < 100
    assert run["command"] in (out / "results.md").read_text() and (out / "memory.png").stat().st_size > 1000


def test_determinism_compare_classifies_differences():
    a = [{"f1": 0.12501, "f2": 0.5, "f3": 0.3, "f5": 0.5}, {"f1": 0.2}]
    b = [{"f1": 0.12499, "f2": 0.5, "f4": 0.3, "f5": 0.7}, {"f1": 0.2}]
    row = bench_determinism.compare(a, b, 100)
    assert row == {"docs_differing": 1, "impacts_differing": 4, "impacts_total": 5, "max_abs_impact_diff": 30,
                   "quantization_flips": 1, "topk_membership_changes": 2, "topk_membership_near_ties": 0,
                   "max_near_tie_impact": 0, "max_jump_impact": 30, "other_changes": 1, "max_abs_weight_diff": row["max_abs_weight_diff"]}
    assert abs(row["max_abs_weight_diff"] - 0.2) < 1e-9
    # with Top-K 3 binding, f3 (0.3) and f4 (0.3) are within the noise (0.2) of the other side's floor (0.125)
    assert bench_determinism.compare(a, b, 100, k=3)["topk_membership_near_ties"] == 2
    assert bench_determinism.identical(a, a, 100) and not bench_determinism.identical(a, b, 100)


def test_bench_determinism_on_tiny_input(tmp_path, tiny_model_dir):
    corpus = write_docs(tmp_path / "corpus.jsonl")
    out = tmp_path / "determinism"
    argv = ["--data", str(corpus), "--docs", "20", "--encoder", str(tiny_model_dir), "--batch-sizes", "1", "8",
            "--repeat", "8", "--out", str(out)]
    assert bench_determinism.main(argv) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["docs"] == 20 and [r["batch_size"] for r in result["runs"]] == [1, 8, 8]
    assert result["same_batch_size_identical"] == {"8": True}
    assert result["same_batch_size"]["8"]["impacts_differing"] == 0
    (row,) = result["across_batch_sizes"]
    assert row["batch_sizes"] == [1, 8] and 0 <= row["docs_differing"] <= 20
    assert row["impacts_differing"] == row["quantization_flips"] + row["topk_membership_changes"] + row["other_changes"]
    assert row["topk_membership_near_ties"] <= row["topk_membership_changes"]
    assert result["topk_floor"]["full_docs"] <= 20
    assert 0 < row["impacts_total"] <= 20 * 40 and row["max_abs_weight_diff"] < 1e-3
    assert result["command"] in (out / "results.md").read_text()
