"""Why SPLARE does (not) beat BM25 in a language: measured from a multilingual run's own files.

    python -m eval.multilingual_diagnostics --run-dir runs/multilingual/xquad-r \\
        --data ../shared/data/xquad-r --out eval/results/multilingual

Reads the encoded questions and sentences ``eval.beir`` wrote for XQuAD-R (parallel: the same
question ids in every language) and reports per language:

- ``tokens_per_question`` (the model's tokenizer) and its ratio to English: token fertility;
- ``jaccard_with_en`` / ``cosine_with_en``: latents of a question vs its English translation
  (1.0 = language-agnostic features);
- ``answer_match``: share of a question's latents present in its answer sentence (the
  latent-level analogue of lexical overlap), and ``answer_score_share``: share of the
  question's weight mass matched, both means over questions;
- ``other_match``: the same share for a random non-relevant sentence of that language, and
  ``answer_minus_other``: how much more the answer matches than any sentence (discrimination);
- nDCG@10 of SPLARE and BM25 from the monolingual table, and the gap.

Writes ``results.json``, ``results.md`` and ``multilingual.png``.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from pathlib import Path

from splare_pyserini.io.readers import read_qrels


def read_vectors(folder: Path, key: str = "id") -> dict[str, dict[str, int]]:
    return {d[key]: d["vector"] for part in sorted(folder.glob("*.jsonl"))
            for d in map(json.loads, open(part, encoding="utf-8"))}


def jaccard(a: dict, b: dict) -> float:
    return len(a.keys() & b.keys()) / len(a.keys() | b.keys()) if a or b else 0.0


def cosine(a: dict, b: dict) -> float:
    dot = sum(w * b[n] for n, w in a.items() if n in b)
    norm = math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values()))
    return dot / norm if norm else 0.0


def language_rows(run_dir: Path, data: Path, tokenizer) -> list[dict]:
    mono = json.loads((run_dir / "monolingual.results.json").read_text())
    benchmark = data.name
    langs = sorted(p.name for p in data.iterdir() if (p / "corpus.jsonl").exists())
    queries = {lang: read_vectors(run_dir / "work" / f"{benchmark}-{lang}" / "splare-queries") for lang in langs}
    english = queries.get("en", {})
    rows = []
    for lang in langs:
        docs = read_vectors(run_dir / "work" / f"{benchmark}-{lang}" / "splare-vectors")
        qrels = read_qrels(data / lang / "qrels" / "test.tsv")
        texts = [json.loads(line)["text"] for line in open(data / lang / "queries.jsonl", encoding="utf-8")]
        match, share, other = [], [], []
        doc_ids = sorted(docs)
        rng = random.Random(0)
        for qid, vector in queries[lang].items():
            for docid in qrels.get(qid, {}):
                d = docs[docid]
                match.append(sum(1 for n in vector if n in d) / len(vector))
                share.append(sum(w for n, w in vector.items() if n in d) / sum(vector.values()))
            negative = rng.choice([d for d in doc_ids if d not in qrels.get(qid, {})][:200] or doc_ids)
            other.append(sum(1 for n in vector if n in docs[negative]) / len(vector))
        shared = [q for q in queries[lang] if q in english]
        scores = mono[f"{benchmark}/{lang}"]
        rows.append({
            "language": lang,
            "splare_ndcg_10": scores["splare"]["ndcg_cut_10"], "bm25_ndcg_10": scores["bm25-flat"]["ndcg_cut_10"],
            "gap": round(scores["splare"]["ndcg_cut_10"] - scores["bm25-flat"]["ndcg_cut_10"], 4),
            "tokens_per_question": round(statistics.mean(len(tokenizer(t, add_special_tokens=False)["input_ids"])
                                                         for t in texts), 2),
            "jaccard_with_en": round(statistics.mean(jaccard(queries[lang][q], english[q]) for q in shared), 4),
            "cosine_with_en": round(statistics.mean(cosine(queries[lang][q], english[q]) for q in shared), 4),
            "answer_match": round(statistics.mean(match), 4),
            "answer_score_share": round(statistics.mean(share), 4),
            "other_match": round(statistics.mean(other), 4),
            "answer_minus_other": round(statistics.mean(match) - statistics.mean(other), 4),
        })
    en_tokens = next((r["tokens_per_question"] for r in rows if r["language"] == "en"), None)
    for row in rows:
        row["fertility_vs_en"] = round(row["tokens_per_question"] / en_tokens, 2) if en_tokens else None
    return rows


def correlation(xs: list[float], ys: list[float]) -> float:
    return round(statistics.correlation(xs, ys), 3) if len(xs) > 2 else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help="eval.beir --out of the XQuAD-R runs (monolingual.* kept)")
    parser.add_argument("--data", required=True, help="the XQuAD-R folder")
    parser.add_argument("--encoder", default=None, help="model whose tokenizer counts tokens (default: the default)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from splare_pyserini.modeling.model import SplareModel

    tokenizer = SplareModel.from_pretrained(args.encoder).backbone.tokenizer
    rows = language_rows(Path(args.run_dir), Path(args.data), tokenizer)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gaps = [r["gap"] for r in rows]
    summary = {"command": "python -m eval.multilingual_diagnostics " + " ".join(argv or sys.argv[1:]), "rows": rows,
               "correlation_gap_vs": {k: correlation(gaps, [r[k] for r in rows])
                                      for k in ("answer_minus_other", "answer_match", "jaccard_with_en",
                                                "fertility_vs_en")}}
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    columns = ["language", "splare_ndcg_10", "bm25_ndcg_10", "gap", "tokens_per_question", "fertility_vs_en",
               "jaccard_with_en", "cosine_with_en", "answer_match", "other_match", "answer_minus_other"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    lines += ["", "Pearson correlation over languages of the nDCG@10 gap (SPLARE - BM25) with: "
              + ", ".join(f"{k} {v}" for k, v in summary["correlation_gap_vs"].items())]
    (out / "results.md").write_text(f"Command: `{summary['command']}`\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no PNG", file=sys.stderr)
        return 0
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    x = range(len(rows))
    left.bar([i - 0.2 for i in x], [r["splare_ndcg_10"] for r in rows], 0.4, label="SPLARE default")
    left.bar([i + 0.2 for i in x], [r["bm25_ndcg_10"] for r in rows], 0.4, label="BM25 (language analyzer)")
    left.set_xticks(list(x), [r["language"] for r in rows])
    left.set_ylabel("nDCG@10, XQuAD-R monolingual")
    left.legend(fontsize=8)
    right.bar([i - 0.2 for i in x], [r["answer_minus_other"] for r in rows], 0.4,
              label="question latents in its answer - in another sentence")
    right.bar([i + 0.2 for i in x], [r["jaccard_with_en"] for r in rows], 0.4, label="Jaccard with the English question")
    right.set_xticks(list(x), [r["language"] for r in rows])
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "multilingual.png", dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
