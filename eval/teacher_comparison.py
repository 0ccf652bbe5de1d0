"""Teacher comparison for distillation: the data preparation and the report of
``encode_scripts/compare_teachers.sh``.

    python -m eval.teacher_comparison prepare --examples TRAIN_DATA.jsonl.gz --squad SQUAD_DIR \\
        --n-examples 640 --work runs/teachers
    python -m eval.teacher_comparison report --work runs/teachers --steps 40 --out eval/results/teachers

    python -m eval.teacher_comparison mine --squad SQUAD_DIR --n-examples 640 --hard-negatives 8 --work runs/kl

``mine`` writes ``examples-neg{N}.jsonl``: SQuAD train questions outside the held-out articles, each
with N Pyserini BM25 negatives (top 50, answer strings and held-out articles excluded), for
distillation over several negatives (a run takes the first K of them with ``data.hard_negatives=K``).
``prepare`` writes ``examples.jsonl`` (a seeded sample of a run's training examples with every
SQuAD example of the held-out articles removed, label-free query ids made unique per source so
teacher scores keyed by (query, document) cannot collide) and ``dev/``, a BEIR folder of
held-out SQuAD articles (paragraphs + a sample of their training questions; ``--distractors N`` adds
N unjudged paragraphs of other articles). ``report``
collects each run's ``results.json`` into one table, JSON and PNG.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from splare_pyserini.io.readers import read_corpus, read_qrels, read_topics
from splare_pyserini.training.data import read_examples, write_beir_folder, write_corpus, write_examples

HELD_OUT_FIRST_ARTICLE = 400  # SQuAD articles 400+ were held out of SAE training for dev use
RUNS = [("zeroshot", "zero-shot (no training)"), ("infonce", "InfoNCE, 1 BM25 hard negative"),
        ("mse-bm25", "MarginMSE, BM25 teacher"), ("mse-dense", "MarginMSE, all-MiniLM-L6-v2 teacher"),
        ("mse-fusion", "MarginMSE, BM25 + MiniLM z-score fusion"),
        ("mse-dense-x80", "MarginMSE, all-MiniLM-L6-v2 teacher x 80 (student's scale)"),
        ("infonce-bidirectional", "InfoNCE, bidirectional attention (causal mask dropped)")]
CHOICE_RUNS = [("infonce", "InfoNCE, temperature 1, LoRA r 16, FLOPS 5e-4/3e-4 (the default config)"),
               ("temperature-5", "temperature 5"), ("lora-r4", "LoRA r 4 (alpha 8)"),
               ("flops-x10", "FLOPS weights x 10 (5e-3/3e-3)"),
               ("mse-dense-x80", "MarginMSE, all-MiniLM-L6-v2 teacher x 80 (student's scale)")]
KL_RUNS = [(f"infonce-t5-neg{n}", f"InfoNCE, temperature 5, {n} BM25 negative{'s' if n > 1 else ''}") for n in (1, 4)] + [
    (f"kl-t{tau}-neg{n}", f"KL from BM25 + SPLADE-tiny, tau {tau}, {n} BM25 negative{'s' if n > 1 else ''}")
    for n in (1, 4, 8) for tau in (5, 10, 20, 50, 100)] + [
    ("infonce-t5-neg1-len128", "InfoNCE, temperature 5, 1 BM25 negative, documents cut at 128 tokens (192 above)"),
    ("infonce-t5-neg1-r64", "InfoNCE, temperature 5, 1 BM25 negative, LoRA r 64 (alpha 128; r 16 above)")]
# table -> (runs, folder prefix of their scores, title, script, PNG name)
TABLES = {
    "teachers": (RUNS, "eval-", "Training signal comparison", "encode_scripts/compare_teachers.sh", "teachers.png"),
    "choices": (CHOICE_RUNS, "score-", "Training choices, one field changed at a time",
                "encode_scripts/compare_training_choices.sh", "choices.png"),
    "kl": (KL_RUNS, "score-", "KL distillation against InfoNCE, same SQuAD train questions",
           "encode_scripts/compare_kl_choices.sh", "kl_choices.png"),
}
METRICS = ["ndcg_cut_10", "recall_100", "recip_rank_10"]


def squad_article(docid: str) -> int | None:
    """The article number of a SQuAD paragraph id ``squad-<article>-<paragraph>``."""
    parts = docid.split("-")
    return int(parts[1]) if parts[0] == "squad" and len(parts) == 3 else None


def held_out(docid: str | None, last_article: int | None = None) -> bool:
    article = squad_article(docid or "")
    return article is not None and article >= HELD_OUT_FIRST_ARTICLE and (last_article is None or article <= last_article)


def prepare(args: argparse.Namespace) -> None:
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = [ex for ex in read_examples(args.examples)
            if not held_out(ex.pos_id) and not any(held_out(n) for n in ex.neg_ids)]
    for ex in rows:
        if ex.qid and ex.qid.startswith("lf-"):  # files written before label-free qids carried the source
            ex.qid = f"{ex.source}/{ex.pos_id}"
    keep = sorted(random.Random(args.seed).sample(range(len(rows)), min(args.n_examples, len(rows))))
    write_examples([rows[i] for i in keep], work / "examples.jsonl")

    squad = Path(args.squad)
    last = HELD_OUT_FIRST_ARTICLE + args.dev_articles - 1
    corpus = list(read_corpus(squad / "corpus.jsonl"))
    docs = [r for r in corpus if held_out(r.docid, last)]
    qrels = {q: d for q, d in read_qrels(squad / "qrels" / "train.tsv").items()
             if any(held_out(docid, last) for docid in d)}
    qids = set(random.Random(args.seed).sample(sorted(qrels), min(args.dev_queries, len(qrels))))
    n_judged = len(docs)
    if args.distractors:  # unjudged paragraphs of other articles: a dev corpus of a test collection's size
        others = [r for r in corpus if not held_out(r.docid, last)]
        docs += random.Random(args.seed).sample(others, min(args.distractors, len(others)))
    write_beir_folder(work / "dev", ((r.docid, r.text) for r in docs),
                      ((r.docid, r.text) for r in read_topics(squad / "queries.jsonl") if r.docid in qids), qrels)
    print(f"{len(keep)} training examples (of {len(rows)} outside the held-out articles); dev: {n_judged} "
          f"paragraphs of articles {HELD_OUT_FIRST_ARTICLE}-{last} + {len(docs) - n_judged} unjudged distractors, "
          f"{len(qids)} questions")


def mine(args: argparse.Namespace) -> None:
    from splare_pyserini.training.data import judged_examples, mine_bm25_negatives, read_judged

    work = Path(args.work)
    judged = read_judged(args.squad, "train")
    rows = [ex for ex in judged_examples(judged, "squad-train") if not held_out(ex.pos_id)]
    rows = random.Random(args.seed).sample(rows, min(len(rows), args.n_examples))
    # negatives come from the paragraphs outside the held-out articles only
    corpus = {docid: text for docid, text in judged.corpus.items() if not held_out(docid)}
    (work / "mine").mkdir(parents=True, exist_ok=True)
    corpus_path = work / "mine" / "corpus.jsonl"
    write_corpus(corpus_path, corpus.items())
    mine_bm25_negatives(rows, corpus, corpus_path, work / "mine", judged.positives(), args.hard_negatives,
                        50, args.seed, judged.answers)
    out = work / f"examples-neg{args.hard_negatives}.jsonl"
    write_examples(rows, out)
    print(f"{out}: {len(rows)} SQuAD train questions, {args.hard_negatives} BM25 negatives each")


def report(args: argparse.Namespace) -> None:
    work, out = Path(args.work), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs, prefix, title, script, png = TABLES[args.table]
    rows, bm25 = [], None
    for name, description in runs:
        results_file = work / f"{prefix}{name}" / "results.json"
        if not results_file.exists():
            print(f"{results_file}: missing, {name} left out of the table", file=sys.stderr)
            continue
        (dataset,) = json.loads(results_file.read_text()).values()
        rows.append({"run": name, "description": description, **{m: dataset["splare"][m] for m in METRICS}})
        bm25 = bm25 or dataset.get("bm25-flat")
    summary = {"command": f"{script} {work} {args.steps}", "steps": args.steps,
               "batch_size": 16, "dev": str(work / "dev"), "rows": rows, "bm25_flat": bm25}
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    lines = [f"# {title} ({args.steps} steps x 16 examples from the zero-shot default)", "",
             f"Command: `{summary['command']}`; dev = held-out SQuAD articles (not a test set).", "",
             "| run | " + " | ".join(METRICS) + " |", "| --- |" + " ---: |" * len(METRICS)]
    lines += [f"| {r['description']} | " + " | ".join(f"{r[m]:.4f}" for m in METRICS) + " |" for r in rows]
    if bm25:
        lines.append("| Pyserini BM25 flat (same dev) | " + " | ".join(f"{bm25[m]:.4f}" for m in METRICS) + " |")
    (out / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no PNG (pip install .[plots])", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh([r["run"] for r in rows], [r["ndcg_cut_10"] for r in rows], color="tab:blue")
    if bm25:
        ax.axvline(bm25["ndcg_cut_10"], color="tab:red", linestyle="--", label="BM25 flat")
        ax.legend()
    ax.set_xlabel("nDCG@10 on the SQuAD dev (held-out articles)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(out / png, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--examples", required=True)
    p.add_argument("--squad", required=True, help="the SQuAD v1.1 train folder (BEIR layout)")
    p.add_argument("--work", required=True)
    p.add_argument("--n-examples", type=int, default=640)
    p.add_argument("--dev-articles", type=int, default=15)
    p.add_argument("--dev-queries", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--distractors", type=int, default=0,
                   help="add N unjudged paragraphs of the other articles to dev/ (a corpus of a test collection's "
                        "size for speed knobs; the questions and judgements stay those of the held-out articles)")
    m = sub.add_parser("mine")
    m.add_argument("--squad", required=True, help="the SQuAD v1.1 train folder (BEIR layout)")
    m.add_argument("--work", required=True)
    m.add_argument("--n-examples", type=int, default=640)
    m.add_argument("--hard-negatives", type=int, default=8)
    m.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("report")
    r.add_argument("--work", required=True)
    r.add_argument("--steps", type=int, required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--table", choices=sorted(TABLES), default="teachers",
                   help="teachers: compare_teachers.sh + compare_bidirectional.sh runs; choices: "
                        "compare_training_choices.sh; kl: compare_kl_choices.sh")
    args = parser.parse_args(argv)
    {"prepare": prepare, "mine": mine, "report": report}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
