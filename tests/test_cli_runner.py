"""Pyserini's CLIs in one shared worker: the same runs and logs as one process per command, Java's
output in the command's log, a failing command reported by exit status and the worker kept."""
import json
import time
from pathlib import Path

import pytest

from splare_pyserini.lucene import cli_runner, java_env, pyserini_cli as lucene

java_env.configure()


@pytest.fixture(scope="module")
def bm25_index(shared_data, tmp_path_factory):
    work = tmp_path_factory.mktemp("cli-runner")
    collection = lucene.write_bm25_collection(str(shared_data / "msmarco-toy" / "corpus.jsonl"), work / "collection")
    lucene.index_bm25(collection.parent, work / "index", threads=1)
    topics = work / "topics.tsv"
    topics.write_text("".join(f"{json.loads(l)['_id']}\t{json.loads(l)['text']}\n"
                              for l in open(shared_data / "msmarco-toy" / "queries.jsonl", encoding="utf-8")))
    return work


def test_shared_worker_runs_pyserini_as_its_own_process_does(bm25_index):
    work = bm25_index
    lucene.search_bm25(work / "index", work / "topics.tsv", work / "alone.run", threads=1, log=work / "alone.log")
    with cli_runner.shared_worker() as worker:
        started = time.perf_counter()
        lucene.search_bm25(work / "index", work / "topics.tsv", work / "first.run", threads=1, log=work / "first.log")
        first = time.perf_counter() - started
        pid = worker.proc.pid
        with pytest.raises(RuntimeError, match="exit 1"):  # a command that raises: status 1, the worker lives on
            lucene.pyserini("pyserini.index.lucene", "--collection", "JsonCollection",
                            "--input", work / "topics.tsv", "--index", work / "bad-index", log=work / "bad.log")
        assert "Argument -input should be a directory" in (work / "bad.log").read_text()
        started = time.perf_counter()
        lucene.search_bm25(work / "index", work / "topics.tsv", work / "second.run", threads=1, log=work / "second.log")
        second = time.perf_counter() - started
        assert worker.proc.pid == pid
    assert cli_runner.current() is None and worker.proc is None  # closed with the block
    alone = (work / "alone.run").read_text()
    assert alone and (work / "first.run").read_text() == alone == (work / "second.run").read_text()
    for log in ("first.log", "second.log"):  # the command line, then Pyserini's own output
        text = (work / log).read_text()
        assert text.startswith("$ ") and "pyserini.search.lucene" in text.splitlines()[0] and "saving to" in text
    assert second < first / 3, (first, second)  # imports and JVM start were paid once


def test_java_output_of_a_command_goes_to_its_log(shared_data, tmp_path):
    """Anserini's indexer logs from Java (log4j, fd 1/2 of the worker): the log must hold it."""
    vectors = tmp_path / "vectors"
    vectors.mkdir()
    (vectors / "part.jsonl").write_text(json.dumps({"id": "d1", "contents": "", "vector": {"f1": 3}}) + "\n")
    with cli_runner.shared_worker():
        lucene.index_impact(vectors, tmp_path / "index", threads=1, log=tmp_path / "index.log")
    assert "documents indexed" in (tmp_path / "index.log").read_text()
