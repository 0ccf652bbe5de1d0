"""eval.teacher_comparison report: the tables of the training-signal and training-choice runs."""
import json

import pytest

from eval import teacher_comparison


def write_scores(folder, ndcg: float) -> None:
    folder.mkdir(parents=True)
    metrics = {"ndcg_cut_10": ndcg, "recall_100": 0.99, "recip_rank_10": ndcg - 0.05}
    bm25 = {"ndcg_cut_10": 0.9, "recall_100": 1.0, "recip_rank_10": 0.85}
    (folder / "results.json").write_text(json.dumps({"dev": {"splare": metrics, "bm25-flat": bm25}}))


@pytest.mark.parametrize("table", ["teachers", "choices"])
def test_report_lists_the_scored_runs_of_its_table_in_order(tmp_path, table, capsys):
    runs, prefix, *_ = teacher_comparison.TABLES[table]
    scored = runs[::2]  # every other run scored; the rest are reported missing
    for i, (name, _) in enumerate(scored):
        write_scores(tmp_path / "work" / f"{prefix}{name}", 0.5 + i / 100)
    other = "score-" if prefix == "eval-" else "eval-"
    write_scores(tmp_path / "work" / f"{other}{runs[1][0]}", 0.1)  # the other table's folder: not read
    out = tmp_path / "out"
    assert teacher_comparison.main(["report", "--work", str(tmp_path / "work"), "--steps", "40",
                                    "--table", table, "--out", str(out)]) == 0
    summary = json.loads((out / "results.json").read_text())
    assert [r["run"] for r in summary["rows"]] == [name for name, _ in scored]
    assert [r["ndcg_cut_10"] for r in summary["rows"]] == [0.5 + i / 100 for i in range(len(scored))]
    assert summary["bm25_flat"]["ndcg_cut_10"] == 0.9 and summary["command"].endswith(" 40")
    lines = (out / "results.md").read_text().splitlines()
    assert lines[-1].startswith("| Pyserini BM25 flat") and len([l for l in lines if l.startswith("| ")]) == len(scored) + 3  # header, rule, runs, BM25
    assert f"{runs[1][0]}" in capsys.readouterr().err  # a missing run is named, not silently dropped
