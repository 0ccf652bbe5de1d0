"""Training data: triples, judged BEIR folders, label-free pairs, BM25 hard negatives mined with a
real Pyserini index, and teacher scores; every bad input names its file, line and field."""
import copy
import json
import re
from pathlib import Path

import pytest

from splare_pyserini.io.readers import InputFormatError, read_corpus, read_qrels, read_topics
from splare_pyserini.training.config import TrainConfig
from splare_pyserini.training.data import (
    Example,
    build_examples,
    judged_examples,
    label_free_examples,
    mine_bm25_negatives,
    read_examples,
    read_judged,
    read_teacher_scores,
    read_triples,
    teacher_labels,
    write_beir_folder,
    write_examples,
)

SHIPPED_EXAMPLES = Path(__file__).resolve().parents[1] / "encode_scripts/train_configs/default_v1_train_data.jsonl.gz"


def write_lines(path: Path, lines) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows) -> Path:
    return write_lines(path, [json.dumps(row) for row in rows])


def assert_names(exc: pytest.ExceptionInfo, path: Path, line: int, field: str) -> None:
    message = str(exc.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert exc.value.path == str(path) and exc.value.line == line
    assert field in message, message


# -- triples -------------------------------------------------------------------------------
def test_text_triples_from_msmarco_toy(shared_data):
    path = shared_data / "msmarco-toy" / "original" / "triplets" / "raw.tsv"
    examples = list(read_triples(path))
    assert len(examples) == 100
    for ex in examples:
        assert ex.query.strip() and ex.positive.strip()
        assert len(ex.negatives) == 1 and ex.negatives[0].strip()
        assert ex.qid is None and ex.neg_ids == [] and ex.source == str(path)
    first = open(path, encoding="utf-8").readline().rstrip("\n").split("\t")
    assert [examples[0].query, examples[0].positive, *examples[0].negatives] == first


@pytest.fixture
def id_files(tmp_path):
    collection = write_lines(tmp_path / "collection.tsv", ["d1\tfirst passage", "d2\tsecond passage",
                                                           "d3\tthird passage"])
    queries = write_lines(tmp_path / "queries.tsv", ["q1\tfirst query", "q2\tsecond query"])
    return tmp_path, collection, queries


def test_triples_by_id_are_resolved(id_files):
    folder, collection, queries = id_files
    triples = write_lines(folder / "triples.tsv", ["q1\td1\td2", "", "q2\td2\td1\td3"])
    examples = list(read_triples(triples, str(collection), str(queries)))
    assert [(e.qid, e.pos_id, e.neg_ids) for e in examples] == [("q1", "d1", ["d2"]), ("q2", "d2", ["d1", "d3"])]
    assert examples[1].query == "second query"
    assert examples[1].positive == "second passage"
    assert examples[1].negatives == ["first passage", "third passage"]


@pytest.mark.parametrize("bad_line, field", [
    ("q9\td1\td2", "query"),            # unknown query id
    ("q1\td9\td2", "positive"),         # unknown positive id
    ("q1\td1\td2\td9", "negative"),     # unknown second negative id
    ("q1\td1", "negative"),             # only 2 fields
    ("q1\t\td2", "positive"),           # empty field
    ("\td1\td2", "query"),
    ("q1\td1\t ", "negative"),
])
def test_triples_by_id_errors_name_file_line_field(id_files, bad_line, field):
    folder, collection, queries = id_files
    triples = write_lines(folder / "triples.tsv", ["q1\td1\td2", "q2\td2\td3", bad_line])
    with pytest.raises(InputFormatError) as exc:
        list(read_triples(triples, str(collection), str(queries)))
    assert_names(exc, triples, 3, f"'{field}'")


@pytest.mark.parametrize("bad_line, field", [
    ("a query\ta positive", "negative"),
    ("a query\t\ta negative", "positive"),
    ("a query\ta positive\ta negative\t", "negative"),  # trailing tab: an empty second negative
])
def test_text_triples_errors_name_file_line_field(tmp_path, bad_line, field):
    triples = write_lines(tmp_path / "triples.tsv", ["q\tp\tn", bad_line])
    with pytest.raises(InputFormatError) as exc:
        list(read_triples(triples))
    assert_names(exc, triples, 2, f"'{field}'")


# -- judged BEIR folders ---------------------------------------------------------------------
def make_beir(folder: Path, qrels_lines, answers=None) -> Path:
    write_jsonl(folder / "corpus.jsonl", [
        {"_id": "d1", "title": "Bees", "text": "Bees make honey from nectar."},
        {"_id": "d2", "title": "", "text": "Honey is sweet."},
        {"_id": "d3", "title": "Paris", "text": "Paris is the capital of France."},
        {"_id": "d4", "title": "", "text": "Berlin is the capital of Germany."},
    ])
    write_jsonl(folder / "queries.jsonl", [{"_id": "q1", "text": "how do bees make honey"},
                                           {"_id": "q2", "text": "capital of france"}])
    write_lines(folder / "qrels" / "train.tsv", ["query-id\tcorpus-id\tscore", *qrels_lines])
    if answers is not None:
        write_jsonl(folder / "answers.jsonl", answers)
    return folder


def test_read_judged_and_examples(tmp_path):
    folder = make_beir(tmp_path, ["q1\td1\t1", "q1\td2\t2", "q1\td4\t0", "q2\td3\t1", "q2\td4\t0"],
                       answers=[{"_id": "q2", "answers": ["Paris", "", 3]}])
    judged = read_judged(folder)
    assert judged.corpus_path == folder / "corpus.jsonl"
    assert judged.corpus["d1"] == "Bees Bees make honey from nectar."
    assert judged.queries == {"q1": "how do bees make honey", "q2": "capital of france"}
    assert judged.qrels == {"q1": {"d1": 1, "d2": 2, "d4": 0}, "q2": {"d3": 1, "d4": 0}}
    assert judged.answers == {"q2": ["Paris"]}

    examples = judged_examples(judged, "beir")
    assert [(e.qid, e.pos_id) for e in examples] == [("q1", "d1"), ("q1", "d2"), ("q2", "d3")]  # rel 0 is no positive
    assert examples[2].query == "capital of france"
    assert examples[2].positive == judged.corpus["d3"]
    assert all(e.source == "beir" and e.negatives == [] for e in examples)


@pytest.mark.parametrize("bad_line, field, value", [
    ("q2\td9\t1", "corpus-id", "d9"),
    ("q7\td1\t1", "query-id", "q7"),
])
def test_read_judged_unknown_ids_name_file_line_field(tmp_path, bad_line, field, value):
    folder = make_beir(tmp_path, ["q1\td1\t1", "q2\td3\t1", bad_line, "q2\td4\t0"])
    with pytest.raises(InputFormatError) as exc:
        read_judged(folder)
    assert_names(exc, folder / "qrels" / "train.tsv", 4, field)
    assert repr(value) in str(exc.value)


def test_read_judged_missing_files(tmp_path):
    folder = make_beir(tmp_path, ["q1\td1\t1"])
    with pytest.raises(FileNotFoundError, match=re.escape(str(folder / "qrels" / "dev.tsv"))):
        read_judged(folder, split="dev")
    (folder / "qrels" / "train.tsv").unlink()
    with pytest.raises(FileNotFoundError, match="train.tsv"):
        read_judged(folder)


# -- label-free pairs ------------------------------------------------------------------------
def test_label_free_examples_both_modes(tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [
        {"_id": "a", "title": "The history of Lucene indexes",
         "text": "Lucene was written in Java. It stores postings in segments on disk."},
        {"_id": "b", "title": "Short", "text": "Too short to split into anything useful at all"},
        {"id": "c", "contents": "Sparse retrievers score with impacts! Each term weight is an integer frequency."},
        {"_id": "d", "title": "A long enough title here", "text": "tiny"},
    ])
    title_body = label_free_examples(corpus, "title_body", "lf")
    assert [(e.pos_id, e.query) for e in title_body] == [("a", "The history of Lucene indexes")]
    assert title_body[0].positive.startswith("Lucene was written in Java.")
    assert title_body[0].source == "lf"

    spans = label_free_examples(corpus, "spans", "lf")
    assert [(e.pos_id, e.query, e.positive) for e in spans] == [
        ("a", "Lucene was written in Java.", "It stores postings in segments on disk."),
        ("c", "Sparse retrievers score with impacts!", "Each term weight is an integer frequency."),
    ]
    qids = [e.qid for e in title_body + spans]
    assert all(q and not any(c.isspace() for c in q) for q in qids)  # usable as a TREC topic id
    assert len({e.qid for e in spans}) == 2


def test_label_free_nothing_pairable_is_an_error(tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"_id": "a", "title": "", "text": "one two three four five"},
                                                     {"_id": "b", "title": "Hi", "text": "Hello. World."}])
    for mode in ("title_body", "spans"):
        with pytest.raises(InputFormatError, match=f"no label-free {mode} pairs") as exc:
            label_free_examples(corpus, mode, "lf")
        assert exc.value.path == str(corpus)


def test_label_free_bad_json_names_line(tmp_path):
    corpus = write_lines(tmp_path / "corpus.jsonl", [json.dumps({"_id": "a", "title": "t", "text": "x"}), "{oops"])
    with pytest.raises(InputFormatError) as exc:
        label_free_examples(corpus, "title_body", "lf")
    assert_names(exc, corpus, 2, "invalid JSON")


# -- BM25 hard negatives ---------------------------------------------------------------------
MINING_CORPUS = {
    "d01": "Paris is the capital and largest city of France.",
    "d02": "France is a country in western Europe; its capital city hosts the Louvre.",
    "d03": "The Eiffel Tower in Paris was built for a world fair in the capital of France.",
    "d04": "Lyon is the third largest city of France and a capital of gastronomy.",
    "d05": "Berlin is the capital of Germany.",
    "d06": "Madrid is the capital city of Spain.",
    "d07": "Rome, the capital of Italy, was founded in antiquity.",
    "d08": "Many tourists visit Paris, the capital, every summer.",
    "d09": "Bees make honey by collecting nectar from flowers and evaporating it in the hive.",
    "d10": "Honey bees store nectar in wax cells where enzymes turn it into honey.",
    "d11": "Bumble bees live in small colonies and make very little honey.",
    "d12": "Wasps do not make honey but they can sting repeatedly.",
    "d13": "Maple syrup is produced by boiling the sap of maple trees.",
    "d14": "Beekeepers harvest honey from their bees in late summer.",
    "d15": "Orchid blooms are zygomorphic, with bilateral symmetry.",
    "d16": "A greenhouse keeps tomatoes warm in winter.",
    "d17": "Greenhouse gases trap heat in the atmosphere.",
    "d18": "The greenhouse effect warms the planet.",
    "d19": "Glass greenhouse roofs let sunlight in.",
    "d20": "Cucumbers grow quickly in a heated greenhouse.",
    "d21": "The old greenhouse behind the school needs new windows.",
    "d22": "Carbon dioxide is a greenhouse gas.",
    "d23": "Farmers in the Netherlands use greenhouse lighting at night.",
    "d24": "A small greenhouse can be built from recycled plastic bottles.",
    "d25": "Methane is a stronger greenhouse gas than carbon dioxide.",
    "d26": "Peppers ripen faster inside a greenhouse.",
    "d27": "The botanical garden opened a new greenhouse for cacti.",
    "d28": "Greenhouse ventilation prevents mould on seedlings.",
    "d29": "Lettuce is grown year round in a greenhouse.",
    "d30": "Mount Etna is on Sicily.",
}
MINING_QUERIES = {
    "q1": "what is the capital of France",  # many BM25 hits; two of them contain the answer "Paris"
    "q2": "how do bees make honey",          # two judged positives, exactly three other BM25 hits
    "q3": "zygomorphic orchid symmetry",     # only its positive matches: topped up with random documents
    "q4": "volcanic eruption lava",          # no BM25 hit at all: all random
}
MINING_QRELS = [("q1", "d01", 1), ("q2", "d09", 1), ("q2", "d10", 1), ("q2", "d13", 0), ("q3", "d15", 1),
                ("q4", "d30", 1)]
MINING_ANSWERS = {"q1": ["Paris"], "q3": ["greenhouse"], "q4": ["GreenHouse"]}


@pytest.fixture(scope="module")
def mined(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mining")
    write_jsonl(folder / "corpus.jsonl", [{"_id": d, "title": "", "text": t} for d, t in MINING_CORPUS.items()])
    write_jsonl(folder / "queries.jsonl", [{"_id": q, "text": t} for q, t in MINING_QUERIES.items()])
    write_lines(folder / "qrels" / "train.tsv",
                ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t{r}" for q, d, r in MINING_QRELS)])
    write_jsonl(folder / "answers.jsonl", [{"_id": q, "answers": a} for q, a in MINING_ANSWERS.items()])
    judged = read_judged(folder)
    positives = {q: {d for d, r in docs.items() if r > 0} for q, docs in judged.qrels.items()}
    examples = judged_examples(judged, "mining")
    work = folder / "work"

    def mine(seed):
        rows = copy.deepcopy(examples)
        mine_bm25_negatives(rows, judged.corpus, judged.corpus_path, work, positives, 3, depth=10,
                            seed=seed, answers=judged.answers)
        return rows

    first = mine(seed=13)
    ranked = {}
    for line in (work / "bm25-run.txt").read_text().splitlines():
        qid, _, docid, *_ = line.split()
        ranked.setdefault(qid, []).append(docid)
    return judged, positives, first, ranked, mine


def test_mined_negatives_exclude_positives_and_answers(mined):
    judged, positives, examples, ranked, _ = mined
    assert [(e.qid, e.pos_id) for e in examples] == [("q1", "d01"), ("q2", "d09"), ("q2", "d10"), ("q3", "d15"),
                                                     ("q4", "d30")]
    # The filters are meaningful: BM25 does rank answer-bearing and judged documents for these queries.
    assert {"d01", "d03", "d08"} <= set(ranked["q1"])
    assert {"d09", "d10"} <= set(ranked["q2"])
    for ex in examples:
        assert len(ex.neg_ids) == 3 and len(set(ex.neg_ids)) == 3, ex
        assert ex.negatives == [judged.corpus[d] for d in ex.neg_ids]
        assert not set(ex.neg_ids) & positives[ex.qid], ex
        for answer in judged.answers.get(ex.qid, []):
            assert not any(answer.lower() in judged.corpus[d].lower() for d in ex.neg_ids), ex
    by_query = {ex.qid: ex for ex in examples}
    assert set(by_query["q1"].neg_ids) <= {"d02", "d04", "d05", "d06", "d07"}  # BM25 hits, no "Paris"
    assert set(by_query["q2"].neg_ids) == {"d11", "d12", "d14"}  # the only other BM25 hits


def test_mined_negatives_are_deterministic(mined):
    _, _, first, _, mine = mined
    again = mine(seed=13)  # reuses the index, searches again
    assert [e.neg_ids for e in again] == [e.neg_ids for e in first]
    assert [e.negatives for e in again] == [e.negatives for e in first]


# -- teacher scores --------------------------------------------------------------------------
def test_read_teacher_scores_both_formats(tmp_path):
    run = write_lines(tmp_path / "teacher.run", ["q1 Q0 d1 1 12.5 teacher", "q1 Q0 d2 2 3 teacher", "",
                                                 "q2\tQ0\td3\t1\t-1e-2\tteacher"])
    assert read_teacher_scores(run) == {("q1", "d1"): 12.5, ("q1", "d2"): 3.0, ("q2", "d3"): -0.01}
    triples = write_lines(tmp_path / "teacher.tsv", ["q1\td1\t12.5", "q1 d2 3"])
    assert read_teacher_scores(triples) == {("q1", "d1"): 12.5, ("q1", "d2"): 3.0}


def test_read_teacher_scores_errors(tmp_path):
    bad = write_lines(tmp_path / "bad.tsv", ["q1 d1 1.0", "q1 d2 high"])
    with pytest.raises(InputFormatError) as exc:
        read_teacher_scores(bad)
    assert_names(exc, bad, 2, "'score'")
    assert "'high'" in str(exc.value)
    wrong = write_lines(tmp_path / "wrong.tsv", ["q1 d1 1.0", "q1 Q0 d2 2.0"])
    with pytest.raises(InputFormatError) as exc:
        read_teacher_scores(wrong)
    assert_names(exc, wrong, 2, "4 fields")
    empty = write_lines(tmp_path / "empty.tsv", [""])
    with pytest.raises(InputFormatError, match="no teacher scores"):
        read_teacher_scores(empty)


def test_teacher_labels(tmp_path):
    scores = {("q1", "d1"): 9.0, ("q1", "d2"): 4.0, ("q1", "d3"): 1.0, ("q2", "d3"): 7.0, ("q2", "d1"): 2.0}
    examples = [Example("a", "b", ["c", "d"], qid="q1", pos_id="d1", neg_ids=["d2", "d3"]),
                Example("e", "f", ["g"], qid="q2", pos_id="d3", neg_ids=["d1"])]
    assert teacher_labels(examples, scores, "teacher.run") == [[9.0, 4.0, 1.0], [7.0, 2.0]]
    examples[1].neg_ids = ["d2"]
    with pytest.raises(ValueError, match=re.escape("teacher.run: no teacher score for query 'q2', document 'd2'")):
        teacher_labels(examples, scores, "teacher.run")


# -- examples files (a run's train_data.jsonl, reusable as a source) -------------------------
def test_examples_round_trip_and_the_shipped_default_reads(tmp_path):
    rows = [Example("q één", "p", ["n"], qid="q1", pos_id="d1", neg_ids=["d2"], source="s"),
            Example("q2", "p2", [], source="t")]
    write_examples(rows, tmp_path / "train_data.jsonl")
    assert read_examples(tmp_path / "train_data.jsonl") == rows
    assert not list(tmp_path.glob("*.tmp"))
    shipped = read_examples(SHIPPED_EXAMPLES)  # gzip, as the default model ships it
    assert len(shipped) == 4919 and all(ex.negatives and ex.qid and ex.source for ex in shipped)


@pytest.mark.parametrize("bad_line, field", [
    ('{"query": "q", "positive": ', "invalid JSON"),
    ('["q", "p"]', "JSON object"),
    ('{"query": "q", "positive": "p", "score": 1}', "'score'"),
    ('{"query": " ", "positive": "p"}', "'query'"),
    ('{"query": "q"}', "'positive'"),
    ('{"query": "q", "positive": "p", "negatives": "n"}', "'negatives'"),
    ('{"query": "q", "positive": "p", "negatives": ["n"], "neg_ids": ["a", "b"]}', "'neg_ids'"),
])
def test_examples_file_errors_name_file_line_field(tmp_path, bad_line, field):
    path = write_lines(tmp_path / "train_data.jsonl", ['{"query": "q", "positive": "p"}', bad_line])
    with pytest.raises(InputFormatError) as exc:
        read_examples(path)
    assert_names(exc, path, 2, field)


def test_excluded_documents_leave_no_query_and_no_negative(mined, tmp_path):
    """exclude_docs (a dev set's documents): queries judging one are dropped, none is ever a negative."""
    judged, _, _, ranked, _ = mined
    excluded = {"d09", "d02", "d04"}  # q2's positive, and two of q1's BM25 negatives
    ids = write_lines(tmp_path / "heldout.txt", ["# dev documents", *sorted(excluded), ""])
    config = TrainConfig.from_dict({
        "model": {"base": "default"}, "train": {"output_dir": str(tmp_path / "out"), "seed": 13},
        "data": {"hard_negatives": 3, "bm25_depth": 10, "sources": [
            {"kind": "qrels", "path": str(judged.corpus_path.parent), "exclude_docs": str(ids), "name": "m"}]}})
    examples = build_examples(config, tmp_path / "work")
    assert [(e.qid, e.pos_id) for e in examples] == [("q1", "d01"), ("q3", "d15"), ("q4", "d30")]
    assert {"d02", "d04"} <= set(ranked["q1"])  # BM25 over the whole corpus would offer them
    for ex in examples:
        assert not excluded & set(ex.neg_ids), ex
    corpus = [json.loads(line)["_id"] for line in (tmp_path / "work" / "source-0" / "corpus.jsonl").open()]
    assert len(corpus) == len(judged.corpus) - 3 and not excluded & set(corpus)
    with pytest.raises(ValueError, match="exclude_docs applies to qrels sources"):
        TrainConfig.from_dict({"model": {"base": "default"}, "data": {"sources": [
            {"kind": "label_free", "path": "c.jsonl", "exclude_docs": str(ids)}]}})


def test_an_answer_found_in_every_document_does_not_block_negatives(tmp_path):
    """A one-letter answer ("n", as in NorQuAD) occurs in every document: negatives are still found,
    never a judged positive."""
    corpus = {f"d{i}": f"document {i} about bilmerker and more" for i in range(6)}
    path = tmp_path / "corpus.jsonl"
    write_jsonl(path, [{"_id": d, "title": "", "text": t} for d, t in corpus.items()])
    rows = [Example("hvor mange bilmerker", corpus["d0"], qid="q", pos_id="d0"),
            Example("document about", corpus["d1"], qid="r", pos_id="d1")]
    mine_bm25_negatives(rows, corpus, path, tmp_path / "work", {"q": {"d0", "d2"}, "r": {"d1"}}, 2, depth=10,
                        seed=0, answers={"q": ["n"], "r": ["about bilmerker and more"]})
    assert len(rows[0].neg_ids) == 2 and not {"d0", "d2"} & set(rows[0].neg_ids)
    assert len(rows[1].neg_ids) == 2 and "d1" not in rows[1].neg_ids


def test_a_written_beir_folder_reads_back_with_only_its_queries_judgements(tmp_path):
    qrels = {"q2": {"d1": 1, "d0": 2}, "q1": {"d0": 1}, "q9": {"d1": 1}}
    write_beir_folder(tmp_path / "set", [("d0", "first \u00e9"), ("d1", "second")],
                      [("q2", "why?"), ("q1", "what?")], qrels)
    assert [(r.docid, r.text) for r in read_corpus(tmp_path / "set" / "corpus.jsonl")] == [("d0", "first \u00e9"), ("d1", "second")]
    assert [(r.docid, r.text) for r in read_topics(tmp_path / "set" / "queries.jsonl")] == [("q2", "why?"), ("q1", "what?")]
    assert read_qrels(tmp_path / "set" / "qrels" / "test.tsv") == {"q1": {"d0": 1}, "q2": {"d0": 2, "d1": 1}}
