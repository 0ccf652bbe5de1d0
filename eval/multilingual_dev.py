"""The multilingual dev set: held-out multilingual-qa articles, one BEIR sub-folder per language.

    python -m eval.multilingual_dev --train ../shared/train --heldout encode_scripts/train_configs/heldout_ids.txt --out runs/ml-dev

Each language's sub-folder (named by its code, so ``eval.beir`` picks its Lucene analyzer) holds
the held-out paragraphs of every multilingual-qa set in that language (articles 7 mod 20, never
trained on: ``exclude_docs`` in the training configs) and up to ``--queries`` of their questions,
sampled with the seed. A language with fewer than ``--min-documents`` held-out paragraphs is padded
with training paragraphs of its sets (other articles: never relevant to a dev question), so that
no dev corpus is trivially small. AfriQA's folders are named by the question's language; their passages are
English or French. Choices are made on this and the SQuAD dev set, never on XQuAD-R or Tatoeba.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from splare_pyserini.io.readers import read_corpus, read_qrels, read_topics
from splare_pyserini.training.data import read_id_list, write_beir_folder


def build(train: Path, heldout: set[str], out: Path, queries_per_language: int, seed: int,
          min_documents: int = 0) -> dict[str, dict]:
    by_language: dict[str, dict] = {}
    for folder in sorted(train.glob("multilingual-qa/*/*")):
        if not (folder / "qrels" / "train.tsv").exists():
            continue
        entry = by_language.setdefault(folder.name, {"docs": {}, "qrels": {}, "queries": {}, "sets": [], "others": {}})
        entry["sets"].append(folder.parent.name)
        for r in read_corpus(folder / "corpus.jsonl"):
            entry["docs" if r.docid in heldout else "others"][r.docid] = r.text
        qrels = {q: d for q, d in read_qrels(folder / "qrels" / "train.tsv").items() if set(d) <= heldout}
        entry["qrels"].update(qrels)
        entry["queries"].update({r.docid: r.text for r in read_topics(folder / "queries.jsonl") if r.docid in qrels})
    summary = {}
    for language, entry in sorted(by_language.items()):
        if not entry["qrels"]:
            continue
        held = len(entry["docs"])
        if held < min_documents:
            padding = random.Random(seed).sample(sorted(entry["others"]), min(min_documents - held, len(entry["others"])))
            entry["docs"].update({d: entry["others"][d] for d in padding})
        qids = sorted(random.Random(seed).sample(sorted(entry["qrels"]), min(queries_per_language, len(entry["qrels"]))))
        write_beir_folder(out / language, sorted(entry["docs"].items()),
                          ((q, entry["queries"][q]) for q in qids), entry["qrels"])
        summary[language] = {"sets": entry["sets"], "documents": len(entry["docs"]), "held_out_documents": held,
                             "queries": len(qids)}
    (out / "README.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True, help="the shared train folder (holds multilingual-qa/)")
    parser.add_argument("--heldout", required=True, help="held-out document ids, one per line")
    parser.add_argument("--out", required=True)
    parser.add_argument("--queries", type=int, default=100, help="questions per language at most")
    parser.add_argument("--min-documents", type=int, default=150, help="pad smaller corpora with training paragraphs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    summary = build(Path(args.train), read_id_list(args.heldout), Path(args.out), args.queries, args.seed,
                    args.min_documents)
    for language, row in summary.items():
        print(f"{language}: {row['documents']} documents ({row['held_out_documents']} held out), "
              f"{row['queries']} questions ({', '.join(row['sets'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
