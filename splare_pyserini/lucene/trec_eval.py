"""Score TREC run files with trec_eval, the way Pyserini's reproduction pages do.

``trec_eval`` is the one bundled with Pyserini (``python -m pyserini.eval.trec_eval``);
``pytrec_eval`` gives the same numbers in-process (used by the tests as a cross-check).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from splare_pyserini.io.readers import read_qrels
from splare_pyserini.lucene import java_env
from splare_pyserini.lucene.pyserini_cli import pyserini_output

logger = logging.getLogger(__name__)

# metric name in results -> (trec_eval measure, depth cut-off -M, minimum relevance -l)
METRICS: dict[str, tuple[str, int | None, int | None]] = {
    "ndcg_cut_10": ("ndcg_cut.10", None, None),
    "recall_100": ("recall.100", None, None),
    "recall_1000": ("recall.1000", None, None),
    "recall_1000_rel2": ("recall.1000", None, 2),  # TREC DL passage: relevant means grade >= 2
    "recip_rank_10": ("recip_rank", 10, None),
    "map": ("map", None, None),
    "P_1": ("P.1", None, None),  # Tatoeba's accuracy@1 (one relevant document per query)
}
_LINE = re.compile(r"^(\S+)\s+all\s+(\S+)$")


def write_trec_qrels(qrels_path: str | Path, out: Path) -> Path:
    """BEIR ``qrels/test.tsv`` (header, 3 columns) -> TREC qrels (``qid 0 docid rel``)."""
    qrels = read_qrels(qrels_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        for qid in sorted(qrels):
            for docid, rel in sorted(qrels[qid].items()):
                handle.write(f"{qid} 0 {docid} {rel}\n")
    return out


def trec_eval(qrels: Path, run: Path, metrics: list[str]) -> dict[str, float]:
    """Run Pyserini's trec_eval (``-c``, as its 2CR pages do) once per (-M, -l) setting; parse the ``all`` rows."""
    java_env.configure()
    check_run_against_qrels(qrels, run)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {sorted(METRICS)}")
    groups: dict[tuple[int | None, int | None], list[str]] = {}
    for metric in metrics:
        groups.setdefault(METRICS[metric][1:], []).append(metric)
    results: dict[str, float] = {}
    for (depth, level), group in groups.items():
        flags = ["-c"] + (["-M", str(depth)] if depth else []) + (["-l", str(level)] if level else [])
        # trec_eval keeps one parameter list per measure: "-m recall.100,1000", not two -m flags.
        measures: dict[str, list[str]] = {}
        for metric in group:
            base, _, param = METRICS[metric][0].partition(".")
            measures.setdefault(base, []).extend([param] if param else [])
        for base, params in measures.items():
            flags += ["-m", f"{base}.{','.join(params)}" if params else base]
        # Pyserini's own CLI, in the shared worker when there is one (its imports once; trec_eval itself
        # is still one `java` process per call, started by Pyserini)
        _, output = pyserini_output("pyserini.eval.trec_eval", *flags, str(qrels), str(run))
        rows = {m.group(1): float(m.group(2)) for m in map(_LINE.match, map(str.strip, output.splitlines())) if m}
        for metric in group:
            name = METRICS[metric][0].replace(".", "_")
            if name not in rows:
                raise RuntimeError(f"trec_eval printed no '{name} all' row for {run}:\n{output[-2000:]}")
            results[metric] = rows[name]
    return results


def check_run_against_qrels(qrels: Path, run: Path, warn: bool = True) -> tuple[int, int]:
    """Warn (``warn``), with counts, about queries in the run without qrels (ignored by trec_eval) and
    judged queries missing from the run (scored 0 with -c). Returns both counts."""
    judged = {line.split()[0] for line in open(qrels, encoding="utf-8") if line.strip()}
    ran = {line.split()[0] for line in open(run, encoding="utf-8") if line.strip()}
    extra, missing = sorted(ran - judged), sorted(judged - ran)
    if extra and warn:
        logger.warning("%s: %d queries have no qrels in %s and are ignored by trec_eval: %s",
                       run.name, len(extra), qrels.name, extra[:5])
    if missing and warn:
        logger.warning("%s: %d judged queries retrieved nothing (scored 0 with -c): %s", run.name, len(missing), missing[:5])
    return len(extra), len(missing)


def read_run(path: Path) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            qid, _, docid, _, score, _ = line.split()
            run.setdefault(qid, {})[docid] = float(score)
    return run


def pytrec_eval_scores(qrels_path: Path, run_path: Path, measures: set[str]) -> dict[str, dict[str, float]]:
    """Per-query scores with pytrec_eval (trec_eval semantics) for cross-checks."""
    import pytrec_eval

    qrels = read_qrels(qrels_path)
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, measures)
    return evaluator.evaluate(read_run(run_path))
