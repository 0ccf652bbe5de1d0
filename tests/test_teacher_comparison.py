"""eval.teacher_comparison: the tables of the training-signal and training-choice runs, and ``mine``."""
import json

import pytest

from eval import teacher_comparison


def write_scores(folder, ndcg: float) -> None:
    folder.mkdir(parents=True)
    metrics = {"ndcg_cut_10": ndcg, "recall_100": 0.99, "recip_rank_10": ndcg - 0.05}
    bm25 = {"ndcg_cut_10": 0.9, "recall_100": 1.0, "recip_rank_10": 0.85}
    (folder / "results.json").write_text(json.dumps({"dev": {"splare": metrics, "bm25-flat": bm25}}))


@pytest.mark.parametrize("table", ["teachers", "choices", "kl"])
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


def write_squad(folder) -> None:
    """A SQuAD-like BEIR folder: articles 0-1 for training, article 400 held out."""
    (folder / "qrels").mkdir(parents=True)
    topics = ["apple orchards", "river delta", "mountain glacier", "desert dunes"]
    docs, queries, qrels = [], [], ["query-id\tcorpus-id\tscore"]
    for article in (0, 1, 400):
        for par in range(6):
            docid = f"squad-{article}-{par}"
            words = " ".join(topics[(article + par) % 4] for _ in range(3))
            docs.append({"_id": docid, "title": "", "text": f"{words} paragraph {par} of article {article}"})
            if article < 400:
                qid = f"{docid}-0"
                queries.append({"_id": qid, "text": f"what about {topics[(article + par) % 4]}"})
                qrels.append(f"{qid}\t{docid}\t1")
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels" / "train.tsv").write_text("\n".join(qrels) + "\n")


def test_mine_takes_negatives_outside_the_held_out_articles(tmp_path):
    write_squad(tmp_path / "squad")
    assert teacher_comparison.main(["mine", "--squad", str(tmp_path / "squad"), "--work", str(tmp_path / "w"),
                                    "--n-examples", "8", "--hard-negatives", "3"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "w" / "examples-neg3.jsonl").read_text().splitlines()]
    assert len(rows) == 8
    from splare_pyserini.training.data import read_examples

    examples = read_examples(tmp_path / "w" / "examples-neg3.jsonl")
    for ex in examples:
        assert len(ex.neg_ids) == 3 and ex.pos_id not in ex.neg_ids
        assert not any(teacher_comparison.held_out(n) for n in ex.neg_ids)
        assert not teacher_comparison.held_out(ex.pos_id)


def test_prepare_adds_unjudged_distractors_of_other_articles_to_the_dev_corpus(tmp_path):
    from splare_pyserini.io.readers import read_corpus, read_qrels
    from splare_pyserini.training.data import Example, write_examples

    squad = tmp_path / "squad"
    write_squad(squad)
    with open(squad / "qrels" / "train.tsv", "a") as qrels:  # questions on the held-out article too
        qrels.writelines(f"squad-400-{p}-0\tsquad-400-{p}\t1\n" for p in range(6))
    with open(squad / "queries.jsonl", "a") as queries:
        queries.writelines(json.dumps({"_id": f"squad-400-{p}-0", "text": f"held-out question {p}"}) + "\n" for p in range(6))
    write_examples([Example("q", "d", qid=f"q{i}", pos_id=f"squad-0-{i}") for i in range(4)], tmp_path / "ex.jsonl")
    common = ["prepare", "--examples", str(tmp_path / "ex.jsonl"), "--squad", str(squad), "--n-examples", "2",
              "--dev-queries", "4"]
    assert teacher_comparison.main([*common, "--work", str(tmp_path / "plain")]) == 0
    assert teacher_comparison.main([*common, "--work", str(tmp_path / "big"), "--distractors", "5"]) == 0
    plain = [r.docid for r in read_corpus(tmp_path / "plain" / "dev" / "corpus.jsonl")]
    big = [r.docid for r in read_corpus(tmp_path / "big" / "dev" / "corpus.jsonl")]
    assert plain == [f"squad-400-{p}" for p in range(6)] and big[:6] == plain
    assert len(big) == 11 and len(set(big)) == 11 and all(not d.startswith("squad-400-") for d in big[6:])
    for name in ("queries.jsonl", "qrels/test.tsv"):  # the same questions and judgements: distractors are unjudged
        assert (tmp_path / "big" / "dev" / name).read_text() == (tmp_path / "plain" / "dev" / name).read_text()
    judged = {d for docs in read_qrels(tmp_path / "big" / "dev" / "qrels" / "test.tsv").values() for d in docs}
    assert judged <= set(plain)
