"""Top-K sweep (the paper's figures 3 and 5): nDCG@10 and search latency per document k and query k.

    python -m eval.bench_topk --data ../shared/data/scifact --out eval/results/topk-scifact [--encoder MODEL]

Documents are encoded once at the largest document k and queries once at the largest
query k; smaller k keep the strongest impacts of those vectors (equal to encoding at that
k except for ties created by quantization). Each document k gets its own Lucene impact
index; each (document k, query k) pair is searched with Pyserini's ``LuceneImpactSearcher``
(pre-encoded queries, 1 thread, one query at a time) and scored with trec_eval.
Writes ``topk.json``, ``topk_ndcg.png`` and ``topk_latency.png``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

from splare_pyserini.lucene import java_env, pyserini_cli as lucene
from splare_pyserini.encoding.jobs import encode_topics, parse_args as encode_args
from splare_pyserini.lucene.trec_eval import trec_eval
from splare_pyserini.io.vector_writer import vector_line

from .beir import StageTimer, encode_cached, judged_topics

DOC_KS = [50, 100, 200, 400, 800]
QUERY_KS = [10, 20, 40, 80]


def strongest(vector: dict[str, int], k: int) -> dict[str, int]:
    """The k largest impacts (ties broken by latent name, so the result is deterministic)."""
    return dict(sorted(vector.items(), key=lambda kv: (-kv[1], kv[0]))[:k])


def truncate_collection(src: Path, dst: Path, k: int) -> None:
    shutil.rmtree(dst, ignore_errors=True)
    dst.mkdir(parents=True)
    for part in sorted(src.glob("*.jsonl")):
        with open(part, encoding="utf-8") as f, open(dst / part.name, "w", encoding="utf-8") as out:
            for line in f:
                doc = json.loads(line)
                out.write(vector_line(doc["id"], doc["contents"], strongest(doc["vector"], k)))


def plot(rows: list[dict], path_ndcg: Path, path_latency: Path) -> None:
    from eval.plotting import figure, save

    for key, label, path in (("ndcg_cut_10", "nDCG@10", path_ndcg), ("search_p50_ms", "search p50 (ms/query)", path_latency)):
        fig, ax = figure()
        for qk in sorted({r["query_k"] for r in rows}):
            pts = sorted((r["doc_k"], r[key]) for r in rows if r["query_k"] == qk)
            ax.plot(*zip(*pts), marker="o", label=f"query k={qk}")
        ax.set_xscale("log", base=2)
        save(fig, ax, path, "document k", label)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--encoder", default=None)
    parser.add_argument("--out", required=True)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--doc-ks", type=int, nargs="+", default=DOC_KS)
    parser.add_argument("--query-ks", type=int, nargs="+", default=QUERY_KS)
    args = parser.parse_args(argv)
    java_env.configure()
    from pyserini.search.lucene import LuceneImpactSearcher

    from splare_pyserini.modeling.model import SplareModel

    from .bench_latency import CachedVectors

    data, out = Path(args.data), Path(args.out)
    work = out / "work"
    model = SplareModel.from_pretrained(args.encoder)
    model.config.doc_top_k, model.config.query_top_k = max(args.doc_ks), max(args.query_ks)
    timer = StageTimer()
    topics_src, qrels = judged_topics(data, work)
    encode_cached(model, data / "corpus.jsonl", work / f"vectors-k{max(args.doc_ks)}", args.batch_size, timer)
    encode_topics(encode_args(["--topics", str(topics_src), "--embeddings", str(work / "queries"), "--resume"]), model=model)
    queries = [json.loads(line) for line in open(work / "queries" / "queries.jsonl", encoding="utf-8")]
    rows = []
    for doc_k in sorted(args.doc_ks):
        vectors = work / f"vectors-k{doc_k}"
        if doc_k != max(args.doc_ks):
            truncate_collection(work / f"vectors-k{max(args.doc_ks)}", vectors, doc_k)
        index = work / f"index-k{doc_k}"
        shutil.rmtree(index, ignore_errors=True)
        lucene.index_impact(vectors, index)
        for query_k in sorted(args.query_ks):
            cached = work / f"queries-k{query_k}.jsonl"
            cached.write_text("".join(vector_line(q["id"], q["contents"], strongest(q["vector"], query_k)) for q in queries),
                              encoding="utf-8")
            searcher = LuceneImpactSearcher(str(index), CachedVectors(cached), min_idf=-1)
            texts = [q["contents"] for q in queries]
            for text in texts[:20]:
                searcher.search(text, k=1000)  # warm-up
            times, lines = [], []
            for q in queries:
                start = time.perf_counter()
                hits = searcher.search(q["contents"], k=1000)
                times.append(time.perf_counter() - start)
                lines += [f"{q['id']} Q0 {h.docid} {rank} {h.score:.4f} splare-k{doc_k}-q{query_k}\n"
                          for rank, h in enumerate(hits, 1)]
            searcher.close()
            run = work / f"run.d{doc_k}.q{query_k}.txt"
            run.write_text("".join(lines))
            scores = trec_eval(qrels, run, ["ndcg_cut_10", "recall_100"])
            rows.append({"doc_k": doc_k, "query_k": query_k, **scores,
                         "search_p50_ms": round(1000 * statistics.median(times), 3),
                         "index_bytes": sum(p.stat().st_size for p in index.rglob("*") if p.is_file())})
            print(rows[-1], flush=True)
    result = {"command": "python -m eval.bench_topk " + " ".join(argv or sys.argv[1:]), "dataset": data.name,
              "queries": len(queries), "encode": timer.seconds, "rows": rows}
    (out / "topk.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, out / "topk_ndcg.png", out / "topk_latency.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
