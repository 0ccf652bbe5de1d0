"""Run Pyserini's own CLIs (index, search, fusion) as subprocesses, with the Java set-up applied
(each its own process, or all in one worker within :func:`~splare_pyserini.lucene.cli_runner.shared_worker`).

Nothing here re-implements Lucene: these are the commands a Pyserini user would type,
built as argument lists so that the demo and the eval wrappers can print them.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from splare_pyserini.lucene import java_env

logger = logging.getLogger(__name__)


def pyserini(module: str, *args: str, log: Path | None = None) -> list[str]:
    """Run ``python -m <module> args`` (in the :func:`~splare_pyserini.lucene.cli_runner.shared_worker`
    of the enclosing block, if any); raise with the tail of its output when it fails."""
    return pyserini_output(module, *args, log=log)[0]


def pyserini_output(module: str, *args: str, log: Path | None = None) -> tuple[list[str], str]:
    """:func:`pyserini`, also returning the command's output (stdout and stderr, Java's included)."""
    from splare_pyserini.lucene import cli_runner

    java_env.configure()
    cmd = [sys.executable, "-m", module, *map(str, args)]
    logger.info("$ %s", shlex.join(cmd))
    worker = cli_runner.current()
    if worker is not None:
        with contextlib.ExitStack() as stack:
            if log is None:
                log = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pyserini-log-"))) / "log.txt"
            returncode = worker.run(module, cmd[3:], Path(log))
            output = Path(log).read_text(encoding="utf-8", errors="replace")
    else:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())
        returncode, output = proc.returncode, proc.stdout
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(f"$ {shlex.join(cmd)}\n{output}", encoding="utf-8")
    if returncode != 0:
        raise RuntimeError(f"{module} failed (exit {returncode}):\n{output[-3000:]}")
    return cmd, output


def index_impact(vectors_dir: Path, index_dir: Path, threads: int = 2, log: Path | None = None,
                 store_raw: bool = True) -> list[str]:
    """Lucene impact index of JsonVectorCollection JSONL (weights are term frequencies); ``store_raw``
    keeps each document's vector (explanations read it; 5.8x the bytes of the postings on Medline)."""
    return pyserini("pyserini.index.lucene", "--collection", "JsonVectorCollection", "--input", vectors_dir,
                    "--index", index_dir, "--generator", "DefaultLuceneDocumentGenerator", "--threads", threads,
                    "--impact", "--pretokenized", *(["--storeRaw"] if store_raw else []), log=log)


def write_bm25_collection(corpus: str, out_dir: Path) -> Path:
    """Pyserini JSONL ``{id, contents}`` (title + text: BEIR's "flat" setting) from any supported corpus."""
    from splare_pyserini.io.readers import read_corpus

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "docs.jsonl"
    tmp = out_dir / ".docs.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        for record in read_corpus(corpus):
            handle.write(json.dumps({"id": record.docid, "contents": record.text}, ensure_ascii=False) + "\n")
    os.replace(tmp, target)
    return target


def index_bm25(collection_dir: Path, index_dir: Path, threads: int = 2, language: str | None = None,
               log: Path | None = None, store: bool = True) -> list[str]:
    """BM25 index as Pyserini's prebuilt ones (positions, doc vectors, raw text), or with ``store=False``
    nothing stored but the ids."""
    extra = ["--language", language] if language else []
    stored = ["--storePositions", "--storeDocvectors", "--storeRaw"] if store else []
    return pyserini("pyserini.index.lucene", "--collection", "JsonCollection", "--input", collection_dir,
                    "--index", index_dir, "--generator", "DefaultLuceneDocumentGenerator", "--threads", threads,
                    *stored, *extra, log=log)


PATH_TRIGGERED_TOPIC_READERS = ("beir", "cacm")
"""Substrings of a topics path that make Pyserini pick a topic reader by the path itself, before
the file's extension is looked at (``pyserini/query_iterator.py``): ``cacm`` -> its CACM reader
(which fails on a TSV), ``beir`` -> a TSV-string reader. A ``.json`` file is read before either test."""


def pyserini_topics(topics: Path | str, work_dir: Path | None = None) -> Path:
    """A topics path that Pyserini reads as the file it is, whatever the folders are named: the path
    itself when it names no path-triggered reader, else the same topics as Pyserini's JSON topics
    (``{qid: {"title": text}}``, read before any path test) in ``work_dir`` (default: a new temporary folder)."""
    topics = Path(topics)
    if topics.suffix == ".json" or not any(word in str(topics) for word in PATH_TRIGGERED_TOPIC_READERS):
        return topics
    import tempfile

    from splare_pyserini.io.readers import read_topics

    work_dir = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="splare-topics-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    target = work_dir / f"{topics.stem}.topics.json"
    payload = {record.docid: {"title": record.text} for record in read_topics(topics)}
    target.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    logger.info("%s: its path names a Pyserini topic reader (%s); handing Pyserini %s instead",
                topics, "/".join(PATH_TRIGGERED_TOPIC_READERS), target)
    return target


def search_impact(index_dir: Path, encoded_queries: Path, topics: Path, run: Path, hits: int = 1000,
                  threads: int = 2, log: Path | None = None) -> list[str]:
    """Stock Pyserini impact search over pre-encoded queries (``--min-idf -1``: keep every latent)."""
    topics = pyserini_topics(topics, Path(run).parent / ".topics")
    return pyserini("pyserini.search.lucene", "--index", index_dir, "--topics", topics, "--impact",
                    "--encoder", encoded_queries, "--min-idf", "-1", "--output", run, "--hits", hits,
                    "--batch-size", 64, "--threads", threads, "--output-format", "trec", log=log)


def search_bm25(index_dir: Path, topics: Path, run: Path, hits: int = 1000, threads: int = 2,
                language: str | None = None, log: Path | None = None) -> list[str]:
    extra = ["--language", language] if language else []
    topics = pyserini_topics(topics, Path(run).parent / ".topics")
    return pyserini("pyserini.search.lucene", "--index", index_dir, "--topics", topics, "--bm25",
                    "--output", run, "--hits", hits, "--batch-size", 64, "--threads", threads, *extra, log=log)


def fuse_rrf(runs: list[Path], output: Path, log: Path | None = None) -> list[str]:
    return pyserini("pyserini.fusion", "--runs", *runs, "--output", output, "--method", "rrf",
                    "--runtag", "splare+bm25.rrf", log=log)


def fuse_interpolation(runs: list[Path], output: Path, alpha: float, depth: int = 1000, k: int = 1000,
                       tag: str = "bm25+splare.interp") -> Path:
    """``alpha * run0 + (1 - alpha) * run1`` after per-topic min-max normalization of each run, with
    Pyserini's own fusion library (``pyserini.fusion.interpolation``; its CLI interpolates raw scores,
    which mixes BM25's and SPLARE's scales)."""
    from pyserini.fusion import interpolation
    from pyserini.trectools import RescoreMethod, TrecRun

    normalized = [TrecRun(str(run)).rescore(RescoreMethod.NORMALIZE) for run in runs]
    interpolation(normalized, alpha=alpha, depth=depth, k=k).save_to_txt(str(output), tag=tag)
    logger.info("fused %s with alpha=%g (normalized interpolation) into %s", [str(r) for r in runs], alpha, output)
    return Path(output)
