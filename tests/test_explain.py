"""Interpretability: latent labels from a corpus, and hits explained latent by latent on a real
Lucene index built by Pyserini (contributions must sum to the score Lucene returned)."""
import json
import shutil
import subprocess
import sys

import pytest
import torch

from splare_pyserini.lucene import java_env, pyserini_cli as lucene
from splare_pyserini.modeling.latent_labels import LATENT_LABELS_FILE, LatentLabels
from splare_pyserini.interpret.latent_labeler import LatentLabeler
from splare_pyserini.modeling.model import SplareModel
from splare_pyserini.io.readers import read_corpus, read_topics
from splare_pyserini.modeling.sparse_vectors import latent_name
from splare_pyserini.interpret.token_activations import TokenActivations, token_activations

java_env.configure()


def run_cli(*args, check=True):
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def toy(shared_data, tiny_model_dir, tmp_path_factory):
    """A labelled copy of the tiny model, the MS MARCO toy corpus encoded and indexed by Pyserini twice
    (with the stored vectors, and the README's plain command without them)."""
    data = shared_data / "msmarco-toy"
    work = tmp_path_factory.mktemp("explain")
    model_dir = work / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    run_cli("-m", "splare_pyserini.label_latents", "--encoder", model_dir, "--corpus", data / "corpus.jsonl",
            "--batch-size", 4)
    run_cli("-m", "splare_pyserini.encode", "input", "--corpus", data / "corpus.jsonl",
            "output", "--embeddings", work / "vectors", "encoder", "--encoder", model_dir)
    lucene.index_impact(work / "vectors", work / "index")
    lucene.pyserini("pyserini.index.lucene", "--collection", "JsonVectorCollection", "--input", work / "vectors",
                    "--index", work / "index-plain", "--generator", "DefaultLuceneDocumentGenerator",
                    "--impact", "--pretokenized")
    return data, work, model_dir


# -- token activations ----------------------------------------------------------------------
def test_token_activations_max_pool_to_the_model_vector(tiny_model):
    texts = ["Scurvy is caused by a lack of vitamin C.", "Short one", "A third, longer text about ships and sailors."]
    acts = token_activations(tiny_model, texts)
    pooled = tiny_model.pooled(texts)
    for act, row, text in zip(acts, pooled, texts):
        assert torch.allclose(act.pooled(), row, atol=1e-5)
        assert act.weights.shape == (len(act.spans), tiny_model.sae.d_sae)
        assert all(0 <= a <= b <= len(text) for a, b in act.spans)
        assert "".join(act.tokens).replace(" ", "") in text.replace(" ", "")  # spans are the text's own pieces


# -- labels ---------------------------------------------------------------------------------
def test_labeler_on_hand_made_activations():
    text = "red apple red car"
    spans = [(0, 3), (4, 9), (10, 13), (14, 17)]
    weights = torch.zeros(4, 3)
    weights[0, 0], weights[2, 0], weights[1, 1], weights[3, 0] = 2.0, 3.0, 1.5, 0.5  # latent 0: red, red, car
    labeler = LatentLabeler(3, examples_per_latent=2, context_chars=4)
    labeler.add("d1", TokenActivations(text, spans, weights))
    labeler.add("d2", TokenActivations(text, spans, weights))  # same weights: ties break to d1
    labels = labeler.labels()
    red = labels[0]
    assert red.fires == 6 and red.label == "[dense 75%] red | car"  # active on 6 of 8 tokens
    assert red.top_tokens[0] == {"token": "red", "count": 4, "max_weight": 3.0}
    assert [(e["docid"], e["token"], e["weight"]) for e in red.examples] == [("d1", "red", 3.0), ("d2", "red", 3.0)]
    assert red.examples[0]["left"] == "ple " and red.examples[0]["right"] == " car"
    assert labels[1].label == "[dense 25%] apple" and labels[2].label == "" and labels[2].fires == 0
    assert labels.info["tokens"] == 8 and labels.info["active_latents"] == 2
    assert red.density == pytest.approx(6 / 8)
    from splare_pyserini.modeling.latent_labels import label_text

    assert label_text([{"token": "gene"}, {"token": "genes"}], 0.19) == "gene | genes"  # below the dense cut


def test_label_latents_cli_writes_loadable_deterministic_labels(toy, tmp_path):
    data, work, model_dir = toy
    labels = LatentLabels.load(model_dir)
    model = SplareModel.from_pretrained(model_dir)
    assert model.latent_labels is not None and len(model.latent_labels) == model.sae.d_sae
    assert labels.info["documents"] == 89 and "label_latents" in labels.info["command"]
    # Independent check: a latent's strongest example is the max of the pooled vectors over the corpus.
    texts = [r.text for r in read_corpus(data / "corpus.jsonl")]
    with torch.inference_mode():
        pooled = torch.cat([model.pooled(texts[i: i + 8]) for i in range(0, len(texts), 8)])
    best = pooled.max(dim=0).values
    active = [latent for latent in range(model.sae.d_sae) if labels[latent].fires]
    assert len(active) == labels.info["active_latents"] > 10
    for latent in active:
        assert labels[latent].examples[0]["weight"] == pytest.approx(float(best[latent]), abs=1e-3)
        assert labels[latent].label.split("] ")[-1].split(" | ")[0] == labels[latent].top_tokens[0]["token"]
    assert all(float(best[latent]) == 0 for latent in set(range(model.sae.d_sae)) - set(active))
    # Deterministic: the same command writes the same bytes.
    run_cli("-m", "splare_pyserini.label_latents", "--encoder", model_dir, "--corpus", data / "corpus.jsonl",
            "--batch-size", 4, "--output", tmp_path)
    assert (tmp_path / LATENT_LABELS_FILE).read_bytes() == (model_dir / LATENT_LABELS_FILE).read_bytes()
    # Labels do not change the encode cache's model fingerprint (they do not change vectors).
    from splare_pyserini.encoding.jobs import model_files

    names = {p.name for p in model_files(model_dir)}
    assert "splare_config.json" in names and not names & {LATENT_LABELS_FILE, "latents_info.json"}
    # Labels travel with save_pretrained once loaded.
    model.save_pretrained(tmp_path / "copy")
    assert (tmp_path / "copy" / LATENT_LABELS_FILE).read_bytes() == (model_dir / LATENT_LABELS_FILE).read_bytes()


def test_label_latents_bad_corpus_line_is_named(toy, tmp_path):
    _, _, model_dir = toy
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": "a", "text": "fine"}\n{"_id": "b", "text": \n', encoding="utf-8")
    proc = run_cli("-m", "splare_pyserini.label_latents", "--encoder", model_dir, "--corpus", bad,
                   "--output", tmp_path / "out", check=False)
    assert proc.returncode == 2 and f"{bad}:2" in proc.stderr
    assert not (tmp_path / "out" / LATENT_LABELS_FILE).exists()


# -- explanations -------------------------------------------------------------------------------
def indexed_vectors(work):
    return {d["id"]: d["vector"] for part in sorted((work / "vectors").glob("part-*.jsonl"))
            for d in map(json.loads, open(part, encoding="utf-8"))}


@pytest.mark.parametrize("index", ["index", "index-plain"])  # stored vectors, and postings only
def test_contributions_sum_to_lucene_scores_for_real_hits(toy, index):
    from pyserini.search.lucene import LuceneImpactSearcher

    from splare_pyserini.interpret.explanations import explain_hit
    from splare_pyserini.lucene.query_encoders import SplareQueryEncoder

    data, work, model_dir = toy
    model = SplareModel.from_pretrained(model_dir)
    encoder = SplareQueryEncoder(model)
    searcher = LuceneImpactSearcher(str(work / index), encoder, min_idf=-1)
    vectors = indexed_vectors(work)
    checked = 0
    for topic in list(read_topics(data / "queries.jsonl"))[:6]:
        query = encoder.encode(topic.text)
        for hit in searcher.search(topic.text, k=5):
            ex = explain_hit(searcher, topic.text, hit)
            assert ex.matches_lucene and ex.total == round(hit.score)
            doc = vectors[hit.docid]
            expected = {n: query[n] * doc[n] for n in query if n in doc}  # from the encoder's JSONL, not Lucene
            assert {latent_name(c.latent): c.product for c in ex.contributions} == expected
            assert all(c.label == model.latent_labels.label(c.latent) for c in ex.contributions)
            assert [c.product for c in ex.contributions] == sorted(expected.values(), reverse=True)
            checked += 1
    assert checked == 30
    # by docid: its score found by one search with the query encoded once, the same explanation
    calls = []
    original = encoder.encode
    encoder.encode = lambda text, **kw: calls.append(text) or original(text, **kw)
    by_id = explain_hit(searcher, topic.text, docid=hit.docid, k=5)
    assert len(calls) == 1 and by_id.score == pytest.approx(float(hit.score))
    assert by_id.contributions == ex.contributions and by_id.matches_lucene


def test_explain_cli_json_run_rank_and_text(toy, tmp_path):
    data, work, model_dir = toy
    topic = next(iter(read_topics(data / "queries.jsonl")))
    run = tmp_path / "run.txt"
    (tmp_path / "topics.tsv").write_text(f"{topic.docid}\t{topic.text}\n", encoding="utf-8")
    run_cli("-m", "splare_pyserini.search", "--index", work / "index", "--topics", tmp_path / "topics.tsv",
            "--impact", "--encoder", model_dir, "--output", run, "--hits", 10)
    first = run.read_text().splitlines()[1].split()  # the rank-2 hit
    proc = run_cli("-m", "splare_pyserini.explain", "--encoder", model_dir, "--index", work / "index",
                   "--run", run, "--topics", data / "queries.jsonl", "--qid", topic.docid, "--rank", 2, "--json")
    out = json.loads(proc.stdout)
    assert set(out) >= {"query", "docid", "score", "contributions"}
    assert out["query"] == topic.text and out["docid"] == first[2]
    assert out["score"] == pytest.approx(float(first[4]), abs=1e-3) and out["matches_lucene"] is True
    assert sum(c["product"] for c in out["contributions"]) == pytest.approx(out["score"])
    assert all(set(c) == {"latent", "term", "kind", "label", "query_weight", "doc_weight", "product"}
               for c in out["contributions"])
    assert all(c["kind"] == "latent" and c["term"] == latent_name(c["latent"]) for c in out["contributions"])
    text = run_cli("-m", "splare_pyserini.explain", "--encoder", model_dir, "--query", topic.text).stdout
    assert text.startswith(f"query: {topic.text}\nquery latents (8):")  # the tiny model's query Top-K
    missing = run_cli("-m", "splare_pyserini.explain", "--encoder", model_dir, "--index", work / "index",
                      "--query", topic.text, "--docid", "no-such-doc", check=False)
    assert missing.returncode != 0 and "no-such-doc" in missing.stderr


def test_html_page_renders_in_headless_chromium(toy, tmp_path):
    from PIL import Image

    data, work, model_dir = toy
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "headless Chromium is needed: `make test` installs Debian's chromium package"
    topic = next(iter(read_topics(data / "queries.jsonl")))
    page = tmp_path / "hit.html"
    proc = run_cli("-m", "splare_pyserini.explain", "--encoder", model_dir, "--index", work / "index",
                   "--query", topic.text, "--docid", json.loads(open(next((work / "vectors").glob("part-*.jsonl"))).readline())["id"],
                   "--html", page)
    source = page.read_text(encoding="utf-8")
    assert source.startswith("<!DOCTYPE html>") and "<script" not in source and "http" not in source
    shot = tmp_path / "shot.png"
    browser = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*browser, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'class="bars"' in dom.stdout or "No latent shared" in dom.stdout
    assert dom.stdout.count('class="chip"') == 8 and 'class="tok"' in dom.stdout
    shoot = subprocess.run([*browser, "--window-size=1000,900", f"--screenshot={shot}", page.as_uri()],
                           capture_output=True, text=True, timeout=120)
    assert shoot.returncode == 0 and shot.exists(), shoot.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1000, 900)
    colours = image.getcolors(maxcolors=1 << 20)
    assert len(colours) > 50  # text, cards, shading: not a blank page
    orange = sum(n for n, (r, g, b) in colours if r > 200 and 80 < g < 190 and b < 90)
    assert orange > 200  # the contribution bars / shaded tokens are drawn


# -- stop latents (the densest latents removed, as stopwords) ----------------------------------
def test_stop_latents_filter_after_top_k_and_the_cli_sets_them(toy, tmp_path):
    from splare_pyserini.interpret.labeling import stop_latents
    from splare_pyserini.modeling.model import SplareConfig

    data, work, model_dir = toy
    texts = [r.text for r in read_corpus(data / "corpus.jsonl")][:12]
    model = SplareModel.from_pretrained(model_dir)
    plain = model.encode_impacts(texts)
    labels = model.latent_labels
    stop = stop_latents(labels, 0.3)
    assert stop and all(labels[i].density >= 0.3 for i in stop)
    assert all(labels[i].density < 0.3 for i in set(labels.by_latent) - set(stop))
    model.config = SplareConfig(**{**model.config.to_dict(), "stop_latents": stop})
    names = {latent_name(i) for i in stop}
    assert model.encode_impacts(texts) == [{n: w for n, w in v.items() if n not in names} for v in plain]
    # The CLI writes them into the model's config, from the stored labels (no corpus pass).
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    run_cli("-m", "splare_pyserini.label_latents", "--encoder", copy, "--stop-density", "0.3")
    assert SplareModel.from_pretrained(copy).config.stop_latents == stop
    with pytest.raises(ValueError, match="stop_latents must be latent indices"):
        SplareConfig(stop_latents=[-1])


@pytest.mark.slow  # ~2-3 minutes: an eval study's script (six indexes and searches), not the product path
def test_eval_stop_latents_on_an_eval_run_layout(toy, tmp_path):
    from splare_pyserini.lucene.trec_eval import write_trec_qrels

    data, work, model_dir = toy
    run_dir = tmp_path / "run"
    toy_work = run_dir / "work" / "toy"
    toy_work.mkdir(parents=True)
    shutil.copytree(work / "vectors", toy_work / "splare-vectors")
    run_cli("-m", "splare_pyserini.encode", "input", "--topics", data / "queries.jsonl",
            "output", "--embeddings", toy_work / "splare-queries", "encoder", "--encoder", model_dir)
    write_trec_qrels(data / "qrels" / "test.tsv", toy_work / "qrels.test.trec")
    run_cli("-m", "eval.stop_latents", "--run-dir", run_dir, "--dataset", "toy", "--labels", model_dir,
            "--densities", "0.5", "0.2", "--out", tmp_path / "out")
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["results"]["toy"]
    assert [r["density"] for r in rows] == [None, 0.5, 0.2]
    assert rows[0]["stop_latents"] == 0 and rows[0]["stop_latents"] <= rows[1]["stop_latents"] <= rows[2]["stop_latents"]
    assert rows[0]["postings"] >= rows[1]["postings"] >= rows[2]["postings"]
    assert rows[0]["postings"] == sum(len(v) for v in indexed_vectors(work).values())
    stop = {latent_name(i) for i in LatentLabels.load(model_dir).by_latent if LatentLabels.load(model_dir)[i].density >= 0.2}
    filtered = run_dir / "stop-latents" / "toy-0.2" / "vectors"
    assert not any(set(json.loads(line)["vector"]) & stop for part in filtered.glob("*.jsonl") for line in open(part))
    assert (tmp_path / "out" / "stop_latents.png").exists()
