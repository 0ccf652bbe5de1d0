"""A text's vector is a function of the text alone, with the shipped default model (bf16 backbone
and SAE): the same bits whatever the batch size, the batch neighbours, the input order, the shard
layout and the search path. The tiny float32 stand-ins would hide bf16 rounding, so these tests
use the real model on a few Medline texts."""
import json
import os
import random
import subprocess
import sys

import pytest

from splare_pyserini.lucene import java_env, pyserini_cli as lucene

java_env.configure()

N_DOCS = 24


@pytest.fixture(scope="module")
def default_model():
    from splare_pyserini.modeling.model import SplareModel

    return SplareModel.from_pretrained()


@pytest.fixture(scope="module")
def medline(shared_data, tmp_path_factory):
    """The 30 Medline queries, and a corpus file of its first documents (with the queries' first relevant one)."""
    from splare_pyserini.io.readers import read_corpus, read_topics

    data = shared_data / "medline"
    queries = [r.text for r in read_topics(data / "queries.jsonl")]
    work = tmp_path_factory.mktemp("medline-slice")
    corpus = work / "corpus.jsonl"
    with open(corpus, "w", encoding="utf-8") as handle:
        for i, record in enumerate(read_corpus(data / "corpus.jsonl")):
            if i == N_DOCS:
                break
            handle.write(json.dumps({"_id": record.docid, "title": "", "text": record.text}) + "\n")
    docs = [r.text for r in read_corpus(corpus)]
    return queries, docs, corpus, data


def test_vectors_are_the_same_bits_for_every_batch_size_and_order(default_model, medline):
    queries, docs, _, _ = medline
    for kind, texts in (("query", queries), ("document", docs)):
        alone = default_model.encode(texts, kind, batch_size=1)
        assert all(alone)
        for batch_size in (7, 32):
            assert default_model.encode(texts, kind, batch_size=batch_size) == alone, (kind, batch_size)
        order = random.Random(0).sample(range(len(texts)), len(texts))
        shuffled = default_model.encode([texts[i] for i in order], kind, batch_size=7)
        assert [shuffled[order.index(i)] for i in range(len(texts))] == alone, kind


def test_every_kernel_runs_on_one_thread_whatever_torchs_thread_count(default_model, medline, monkeypatch):
    """On an AMX-BF16 Xeon a bf16 matmul split over 2 threads rounds otherwise than on 1 (22 of 24
    Medline documents changed, so a 1-thread torchrun rank wrote other vectors than a 2-thread
    process): backbone and SAE kernels must see one thread, the parallelism being texts."""
    import threading

    import torch

    from splare_pyserini.modeling.backbone import decoder_layers

    _, docs, _, _ = medline
    seen = []
    record = lambda *_: seen.append((threading.get_ident(), torch.get_num_threads()))  # noqa: E731
    hook = decoder_layers(default_model.backbone.model)[0].register_forward_hook(record)
    sae_encode = default_model.sae._encode
    monkeypatch.setattr(default_model.sae, "_encode", lambda hidden: (record(), sae_encode(hidden))[1])
    previous, vectors = torch.get_num_threads(), {}
    try:
        for threads in (2, 1):
            torch.set_num_threads(threads)
            seen.clear()
            vectors[threads] = default_model.encode(docs[:12], "document", batch_size=6)
            assert len(seen) == 24 and {n for _, n in seen} == {1}, threads
            idents = {ident for ident, _ in seen}  # the backbone's and the SAE's worker threads
            if threads == 1:
                assert idents == {threading.get_ident()}
            else:
                assert len(idents) >= 2 and threading.get_ident() not in idents
            assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(previous)
        hook.remove()
    assert vectors[1] == vectors[2]


def test_a_query_beside_long_documents_is_the_query_alone(default_model, medline):
    """Neighbours of another length and kind change the padding and the batch's token count."""
    queries, docs, _, _ = medline
    alone = default_model.encode(queries[:3], "query", batch_size=1)
    mixed = default_model.encode([docs[0], queries[0], docs[1], queries[1], queries[2]], "query", batch_size=5)
    assert [mixed[1], mixed[3], mixed[4]] == alone


def test_sentence_transformers_sparse_encoder_of_the_same_directory_gives_the_same_vectors(default_model, medline):
    """``SparseEncoder(dir)`` runs the module pipeline (SAE module + ST's SpladePooling) in its own
    batches; before Top-K its vectors are ours bit for bit."""
    import torch
    from sentence_transformers import SparseEncoder

    queries, _, _, _ = medline
    st = SparseEncoder(default_model.name_or_path, local_files_only=True, trust_remote_code=True)
    theirs = st.encode(queries[:12], batch_size=5, convert_to_tensor=True).to_dense()
    with torch.inference_mode():
        ours = torch.cat([default_model.pooled([q]) for q in queries[:12]])
    assert torch.equal(theirs, ours)


def read_vectors(folder):
    lines = {}
    for part in sorted(folder.glob("*.jsonl")):
        for line in open(part, encoding="utf-8"):
            lines[json.loads(line)["id"]] = line
    return lines


def test_shard_layouts_write_the_same_lines(default_model, medline, tmp_path):
    from splare_pyserini.encoding.jobs import encode_corpus, parse_args

    _, _, corpus, _ = medline
    layouts = {}
    for shard_num, batch_size in ((1, 16), (3, 4)):
        out = tmp_path / f"shards-{shard_num}"
        for shard_id in range(shard_num):
            encode_corpus(parse_args(["--corpus", str(corpus), "--embeddings", str(out), "--shard-id", str(shard_id),
                                      "--shard-num", str(shard_num), "--batch-size", str(batch_size)]),
                          model=default_model)
        layouts[shard_num] = read_vectors(out)
    assert len(layouts[1]) == N_DOCS and layouts[3] == layouts[1]
    # two torchrun processes (one thread each) write the same lines too
    out = tmp_path / "torchrun-2"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m",
                           "splare_pyserini.encode", "--corpus", str(corpus), "--embeddings", str(out), "--batch-size", "8"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert read_vectors(out) == layouts[1]


@pytest.fixture(scope="module")
def indexed(default_model, medline, tmp_path_factory):
    """The Medline slice encoded and indexed, its queries encoded by ``encode --topics``."""
    from splare_pyserini.encoding.jobs import encode_corpus, encode_topics, parse_args

    _, _, corpus, data = medline
    work = tmp_path_factory.mktemp("medline-index")
    encode_corpus(parse_args(["--corpus", str(corpus), "--embeddings", str(work / "vectors")]), model=default_model)
    encode_topics(parse_args(["--topics", str(data / "queries.jsonl"), "--embeddings", str(work / "q")]),
                  model=default_model)
    lucene.index_impact(work / "vectors", work / "index")
    return work


def run_lines(path):
    return sorted(open(path, encoding="utf-8").read().splitlines())


def search_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "splare_pyserini.search", *map(str, args)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_every_search_path_writes_the_same_run(default_model, indexed):
    from pyserini.search.lucene import LuceneImpactSearcher

    from splare_pyserini.lucene.query_encoders import SplareQueryEncoder

    work = indexed
    topics = work / "q" / "topics.tsv"
    # 1. stock Pyserini over the queries pre-encoded by `encode --topics`
    lucene.search_impact(work / "index", work / "q" / "queries.jsonl", topics, work / "stock.run", hits=20)
    stock = run_lines(work / "stock.run")
    assert len({line.split()[0] for line in stock}) == 30
    # 2. our CLI encoding raw text with --encoder default; 3. the same without --encoder or --impact
    search_cli("--index", work / "index", "--topics", topics, "--impact", "--encoder", "default",
               "--output", work / "default.run", "--hits", 20)
    bare = search_cli("--index", work / "index", "--topics", topics, "--output", work / "bare.run", "--hits", 20)
    assert run_lines(work / "default.run") == stock
    assert run_lines(work / "bare.run") == stock
    assert "matched no document" not in bare.stderr
    # 4. Pyserini's searcher with our query encoder object, in this process
    searcher = LuceneImpactSearcher(str(work / "index"), SplareQueryEncoder(default_model), min_idf=-1)
    for line in open(topics, encoding="utf-8"):
        qid, text = line.rstrip("\n").split("\t")
        hits = searcher.search(text, k=20)
        expected = [(l.split()[2], l.split()[4]) for l in open(work / "stock.run") if l.split()[0] == qid]
        assert [(h.docid, f"{h.score:.6f}") for h in hits] == expected, qid


def test_a_search_that_matches_nothing_warns_with_the_count(indexed, tmp_path):
    vectors = tmp_path / "vectors"
    vectors.mkdir()
    (vectors / "docs.jsonl").write_text(json.dumps({"id": "d0", "contents": "", "vector": {"f999999": 3}}) + "\n")
    lucene.index_impact(vectors, tmp_path / "index")
    proc = search_cli("--index", tmp_path / "index", "--topics", indexed / "q" / "topics.tsv",
                      "--output", tmp_path / "run.txt", "--hits", 10)
    assert (tmp_path / "run.txt").read_text() == ""
    assert "30 of 30 queries matched no document" in proc.stderr
