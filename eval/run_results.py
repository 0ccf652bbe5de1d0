"""Reading ``eval.beir`` run folders back: their scores, run files and qrels, and paired differences.

A run folder holds ``results.json`` (``{dataset: {system: {metric: value}}}``), one TREC run file per
dataset and system (``run.<dataset>.<system>.txt``) and the qrels it was scored with
(``work/<dataset>/qrels.test.trec``). Comparisons across folders (two models, two SAEs) read them
here, so that a difference comes with its paired standard error over the same queries.
"""
from __future__ import annotations

import json
import math
from pathlib import Path


def dataset_name(name: str) -> str:
    """A results.json key as a dataset name: ``xquad-r/de`` stays, a path (``/data/scifact``) keeps its last part."""
    return name.rstrip("/").rsplit("/", 1)[-1] if name.startswith((".", "/")) else name


def read_runs(folders: list[str | Path]) -> dict[str, dict]:
    """``{dataset: {system: metrics}}`` of eval.beir run folders (several: their datasets merged)."""
    merged = {}
    for folder in folders:
        path = Path(folder) / "results.json"
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing (run eval.beir first)")
        for name, rows in json.loads(path.read_text(encoding="utf-8")).items():
            merged[dataset_name(name)] = rows
    return merged


def run_file(folder: str | Path, dataset: str, system: str) -> Path:
    """The TREC run file of ``system`` on ``dataset`` in an eval.beir folder."""
    return Path(folder) / f"run.{dataset.replace('/', '-')}.{system}.txt"


def qrels_file(folder: str | Path, dataset: str) -> Path:
    """The TREC qrels an eval.beir folder scored ``dataset`` with."""
    return Path(folder) / "work" / dataset / "qrels.test.trec"


def per_query(qrels: Path, run: Path, measure: str = "ndcg_cut_10") -> dict[str, float]:
    """``{qid: score}`` for every judged query (pytrec_eval; a judged query missing from the run scores 0, as ``trec_eval -c``)."""
    from splare_pyserini.lucene.trec_eval import pytrec_eval_scores, read_qrels

    base, _, cutoff = measure.rpartition("_")
    scores = pytrec_eval_scores(qrels, run, {f"{base}.{cutoff}" if cutoff.isdigit() else measure})
    return {qid: scores.get(qid, {}).get(measure, 0.0) for qid in read_qrels(qrels)}


def paired_difference(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """Mean of ``a - b`` over the queries of ``a`` (missing in ``b``: 0) and its standard error."""
    diffs = [score - b.get(qid, 0.0) for qid, score in a.items()]
    n = len(diffs)
    if n < 2:
        raise ValueError(f"a paired difference needs at least 2 queries, got {n}")
    mean = sum(diffs) / n
    variance = sum((d - mean) ** 2 for d in diffs) / (n - 1)
    return {"difference": mean, "standard_error": math.sqrt(variance / n), "queries": n}
