"""MS MARCO passage with Pyserini's conventions: MRR@10 on dev, nDCG@10 / R@1000 (rel >= 2) on DL19/DL20.

    python -m eval.msmarco --collection collection.tsv --topics dev dl19 dl20 [--encoder MODEL] --out RUN_DIR

``--collection`` is the user's passage collection (``pid<TAB>text``, 8.8M lines for the
full set; a BEIR ``corpus.jsonl`` works too). Topics and qrels are read from
``../shared/data/msmarco-topics/{dev-small,dl19-passage,dl20-passage}`` (``--topics-dir``),
or ``--topics`` may name BEIR-layout folders directly (the MS MARCO toy set, in tests).
Metrics follow Pyserini's 2CR pages: dev ``-c -M 10 -m recip_rank`` and ``-c -m recall.1000``;
DL ``-c -m ndcg_cut.10`` and ``-c -l 2 -m recall.1000``.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

from splare_pyserini.lucene import pyserini_cli as lucene
from splare_pyserini.encoding.jobs import encode_topics, parse_args as encode_args
from splare_pyserini.lucene.trec_eval import trec_eval

from .beir import StageTimer, encode_cached, judged_topics

logger = logging.getLogger("eval.msmarco")

TOPIC_SETS = {"dev": "dev-small", "dl19": "dl19-passage", "dl20": "dl20-passage"}
METRICS = {"dev": ["recip_rank_10", "recall_1000"], "dl19": ["ndcg_cut_10", "recall_1000_rel2"],
           "dl20": ["ndcg_cut_10", "recall_1000_rel2"]}


def topic_folder(name: str, topics_dir: Path) -> tuple[str, Path]:
    if name in TOPIC_SETS:
        return name, topics_dir / TOPIC_SETS[name]
    folder = Path(name)
    if not (folder / "queries.jsonl").exists():
        raise SystemExit(f"{name}: not one of {sorted(TOPIC_SETS)} and not a folder with queries.jsonl")
    return folder.name, folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collection", required=True)
    parser.add_argument("--topics", nargs="+", default=["dev", "dl19", "dl20"])
    parser.add_argument("--topics-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "msmarco-topics"))
    parser.add_argument("--encoder", default=None)
    parser.add_argument("--out", required=True)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from splare_pyserini.modeling.model import SplareModel

    out = Path(args.out)
    work = out / "work"
    timer = StageTimer()
    model = SplareModel.from_pretrained(args.encoder)
    encode_cached(model, Path(args.collection), work / "vectors", args.batch_size, timer)
    with timer.stage("index splare"):
        shutil.rmtree(work / "index", ignore_errors=True)
        lucene.index_impact(work / "vectors", work / "index", threads=args.threads, log=work / "logs" / "index.log")
    results = {}
    for name in args.topics:
        label, folder = topic_folder(name, Path(args.topics_dir))
        topics_src, qrels = judged_topics(folder, work / label)
        encoded = work / label / "queries"
        with timer.stage(f"encode queries {label}"):
            encode_topics(encode_args(["--topics", str(topics_src), "--embeddings", str(encoded), "--resume"]), model=model)
        run = out / f"run.msmarco-passage-{label}.splare.txt"
        with timer.stage(f"search {label}"):
            lucene.search_impact(work / "index", encoded / "queries.jsonl", encoded / "topics.tsv", run,
                                 threads=args.threads, log=work / "logs" / f"search-{label}.log")
        results[label] = {"splare": trec_eval(qrels, run, METRICS.get(name, ["recip_rank_10", "ndcg_cut_10", "recall_1000"]))}
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "timings.json").write_text(json.dumps(timer.seconds, indent=2) + "\n")
    for label, systems in results.items():
        print(label, json.dumps(systems["splare"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
