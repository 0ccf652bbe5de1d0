"""The long run's dev tooling: the multilingual dev set builder and the learning-curve scorer
(its checkpoint discovery, macro averages and report; eval.beir itself is tested elsewhere)."""
import json
from pathlib import Path

from eval import learning_curve, multilingual_dev


def write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def write_set(root: Path, name: str, language: str, articles: int) -> None:
    folder = root / "multilingual-qa" / name / language
    docs = [f"{name}-{language}-{a}-0" for a in range(articles)]
    write_jsonl(folder / "corpus.jsonl", [{"_id": d, "title": "", "text": f"text of {d}"} for d in docs])
    write_jsonl(folder / "queries.jsonl", [{"_id": f"{d}-{i}", "text": f"question {i} on {d}"} for d in docs for i in range(2)])
    (folder / "qrels").mkdir()
    (folder / "qrels" / "train.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{d}-{i}\t{d}\t1\n" for d in docs for i in range(2)), encoding="utf-8")


def test_multilingual_dev_keeps_held_out_pairs_merges_languages_and_pads(tmp_path):
    write_set(tmp_path, "setA", "ja", 30)
    write_set(tmp_path, "setB", "ja", 30)
    write_set(tmp_path, "setC", "sv", 40)
    heldout = {f"setA-ja-{a}-0" for a in (7, 27)} | {"setB-ja-7-0"} | {f"setC-sv-{a}-0" for a in (7, 27)}
    out = tmp_path / "dev"
    summary = multilingual_dev.build(tmp_path, heldout, out, queries_per_language=5, seed=0, min_documents=10)
    assert summary["ja"] == {"sets": ["setA", "setB"], "documents": 10, "held_out_documents": 3, "queries": 5}
    assert summary["sv"]["held_out_documents"] == 2 and summary["sv"]["queries"] == 4
    qrels = [line.split("\t") for line in (out / "ja" / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    assert len(qrels) == 5 and {d for _, d, _ in qrels} <= heldout  # only held-out pairs are judged
    corpus = {json.loads(line)["_id"] for line in (out / "ja" / "corpus.jsonl").open()}
    assert heldout & corpus == {d for d in heldout if "-ja-" in d} and len(corpus) == 10  # padded with others
    queries = {json.loads(line)["_id"] for line in (out / "ja" / "queries.jsonl").open()}
    assert queries == {q for q, _, _ in qrels}


def fake_checkpoint(run: Path, step: int, complete: bool = True) -> None:
    folder = run / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    if complete:
        (folder / "splare_config.json").write_text("{}")


def fake_results(work: Path, values: dict[str, float], bm25: float | None = None) -> None:
    """A results.json as eval.beir writes it, one dataset per entry of ``values``."""
    work.mkdir(parents=True)
    row = lambda v: {m: v for m in learning_curve.METRICS}  # noqa: E731
    results = {name: {"splare": row(v), **({"bm25-flat": row(bm25)} if bm25 is not None else {})}
               for name, v in values.items()}
    (work / "results.json").write_text(json.dumps(results))


def test_learning_curve_scores_each_step_once_and_averages_languages(tmp_path):
    run, out, work = tmp_path / "run", tmp_path / "out", tmp_path / "work"
    fake_checkpoint(run, 40)
    fake_checkpoint(run, 80)
    fake_checkpoint(run, 120, complete=False)  # still being written: not scored
    assert [s for s, _ in learning_curve.checkpoints(run)] == [40, 80]
    fake_results(work / "step-0", {"x/ja": 0.5, "x/sv": 0.7}, bm25=0.9)
    fake_results(work / "step-80", {"x/ja": 0.6, "x/sv": 0.9})
    (run / "train_log.jsonl").write_text("".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in (5, 10)))
    args = ["--run", str(run), "--dev", "unused", "--out", str(out), "--work", str(work), "--every", "80"]
    assert learning_curve.main(args) == 0
    points = json.loads((out / "curve.json").read_text())["points"]
    assert [p["step"] for p in points] == [0, 80]  # step 40 is not a multiple of --every
    assert points[0]["ndcg_cut_10"] == 0.6 and points[0]["bm25"]["ndcg_cut_10"] == 0.9
    assert points[1]["ndcg_cut_10_by_dataset"] == {"ja": {"splare": 0.6}, "sv": {"splare": 0.9}}
    assert points[1]["ndcg_cut_10"] == 0.75
    assert "Best checkpoint by dev nDCG@10: step 80 (0.7500)" in (out / "curve.md").read_text()
    assert (out / "curve.png").stat().st_size > 10_000
    assert [e["step"] for e in map(json.loads, (out / "logs" / "train_log.jsonl").open())] == [5, 10]
    (work / "step-80" / "results.json").unlink()  # a kept point is never scored again
    (run / "train_log.jsonl").write_text(json.dumps({"step": 10, "loss": 0.5}) + "\n" + json.dumps({"step": 15, "loss": 0.2}) + "\n")
    assert learning_curve.main(args) == 0  # a resumed run's log (from step 10) after the kept steps before it
    assert [(e["step"], e["loss"]) for e in map(json.loads, (out / "logs" / "train_log.jsonl").open())] == [
        (5, 0.2), (10, 0.5), (15, 0.2)]


def test_training_costs_sum_the_sessions_of_a_resumed_run():
    log = [{"step": 5, "time": 100.0, "cpu_seconds": 50.0, "peak_rss_gb": 3.0},
           {"step": 10, "time": 200.0, "cpu_seconds": 150.0, "peak_rss_gb": 3.5},
           {"step": 10, "time": 210.0, "cpu_seconds": 151.0},  # an end-of-run summary line at the same step
           {"step": 15, "time": 5000.0, "cpu_seconds": 20.0, "peak_rss_gb": 3.2},  # resumed: a new process
           {"step": 20, "time": 5100.0, "cpu_seconds": 120.0, "peak_rss_gb": 3.4},
           {"step": 25, "loss": 0.3}]  # a line written before the log was timed
    costs = learning_curve.training_costs(log, per_step=16)
    assert costs == {"cpu_hours": round(200 / 3600, 2), "wall_hours": round(200 / 3600, 2), "steps_timed": 10,
                     "queries_per_second": 0.8, "peak_rss_gb": 3.5}


def test_keep_best_holds_the_best_checkpoint_until_a_better_one_exists(tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    run, kept = tmp_path / "run", tmp_path / "best"
    for step in (40, 80, 120):
        fake_checkpoint(run, step)
        (run / f"checkpoint-{step}" / "optimizer.pt").write_bytes(b"adam")
        adapter = run / f"checkpoint-{step}" / "0_CausalLMBackbone" / "adapter_model.safetensors"
        adapter.parent.mkdir()
        save_file({"lora_A": torch.full((2, 2), float(step))}, adapter)
    folders = dict(learning_curve.checkpoints(run))
    point = lambda step, value: {"step": step, "ndcg_cut_10": value}  # noqa: E731
    kept_step = lambda: json.loads((kept / "best.json").read_text())["step"]  # noqa: E731

    learning_curve.keep_best([point(0, 0.9), point(40, 0.5), point(80, 0.7), point(120, 0.7)], folders, kept)
    assert kept_step() == 80  # the base model (step 0) never counts; of a tie, the earliest
    adapter = load_file(kept / "0_CausalLMBackbone" / "adapter_model.safetensors")["lora_A"]
    assert adapter.dtype == torch.float16 and adapter[0, 0].item() == 80.0
    assert not (kept / "optimizer.pt").exists()
    del folders[80]  # save_total_limit deleted it: the kept copy stays
    learning_curve.keep_best([point(40, 0.5), point(80, 0.7), point(120, 0.6)], folders, kept)
    assert kept_step() == 80
    learning_curve.keep_best([point(40, 0.5), point(80, 0.7), point(120, 0.6), point(160, 0.8)], folders, kept)
    assert kept_step() == 80  # a better step whose folder is gone cannot be kept
    learning_curve.keep_best([point(40, 0.5), point(80, 0.7), point(120, 0.75)], folders, kept)
    assert kept_step() == 120
    assert load_file(kept / "0_CausalLMBackbone" / "adapter_model.safetensors")["lora_A"][0, 0].item() == 120.0
