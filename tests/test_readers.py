"""Tests for splare_pyserini.io.readers: real files in tmp_path, no mocks.

Every error test checks that the message names the file, the line and the problem,
because that message is all a user gets when a 10-million-line corpus is bad.
"""
from __future__ import annotations

import gzip
import json
import logging
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import splare_pyserini.io.readers as readers
from splare_pyserini.io.readers import (
    MAX_LINE_BYTES,
    InputFormatError,
    Record,
    corpus_files,
    iter_records,
    read_corpus,
    read_qrels,
    read_topics,
)

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SPLARE_SHARED", REPO.parent / "shared")) / "data"
LOGGER = "splare_pyserini.io.readers"


def write_jsonl(path: Path, objs, **dumps_kwargs) -> Path:
    path.write_text("".join(json.dumps(o, **dumps_kwargs) + "\n" for o in objs), encoding="utf-8")
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def assert_error(exc_info, path: Path, line: int, *fragments: str) -> None:
    """The message starts with ``path:line:`` and mentions every fragment."""
    msg = str(exc_info.value)
    assert msg.startswith(f"{path}:{line}: "), msg
    assert exc_info.value.path == str(path)
    assert exc_info.value.line == line
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


# --------------------------------------------------------------------------- happy paths


def test_beir_jsonl_title_and_text_joined(tmp_path):
    f = write_jsonl(tmp_path / "corpus.jsonl", [
        {"_id": "d1", "title": "  A title ", "text": " some text  "},
        {"_id": "d2", "title": "", "text": "only text"},
        {"_id": "d3", "title": "only title"},
        {"_id": "d4", "text": "no title key"},
    ])
    records = list(iter_records(f))
    assert records == [
        Record("d1", "A title some text", 1),
        Record("d2", "only text", 2),
        Record("d3", "only title", 3),
        Record("d4", "no title key", 4),
    ]


def test_pyserini_jsonl_contents_and_id_keys(tmp_path):
    f = write_jsonl(tmp_path / "docs.jsonl", [
        {"id": "a", "contents": "pyserini contents"},
        {"docid": "b", "contents": "docid key"},
        {"qid": "c", "text": "qid key"},
        {"_id": 42, "text": "integer id becomes a string"},
        {"id": "e", "contents": "contents wins", "title": "ignored", "text": "ignored"},
    ])
    assert [(r.docid, r.text) for r in iter_records(f)] == [
        ("a", "pyserini contents"),
        ("b", "docid key"),
        ("c", "qid key"),
        ("42", "integer id becomes a string"),
        ("e", "contents wins"),
    ]


def test_records_carry_their_line_number(tmp_path):
    f = write_bytes(tmp_path / "c.jsonl", b'{"_id": "a", "text": "x"}\n\n\n{"_id": "b", "text": "y"}\n')
    assert [(r.docid, r.line) for r in iter_records(f)] == [("a", 1), ("b", 4)]


def test_blank_lines_are_ignored(tmp_path):
    f = write_bytes(
        tmp_path / "c.jsonl",
        b'\n{"_id": "a", "text": "x"}\n   \n\t\n\r\n{"_id": "b", "text": "y"}\n\n',
    )
    assert [r.docid for r in iter_records(f)] == ["a", "b"]
    tsv = write_bytes(tmp_path / "c.tsv", b"\na\tx\n  \nb\ty\n\n")
    assert [r.docid for r in iter_records(tsv)] == ["a", "b"]


def test_no_trailing_newline(tmp_path):
    f = write_bytes(tmp_path / "c.jsonl", b'{"_id": "a", "text": "x"}\n{"_id": "b", "text": "y"}')
    assert [(r.docid, r.text) for r in iter_records(f)] == [("a", "x"), ("b", "y")]


def test_crlf_line_endings(tmp_path):
    f = write_bytes(
        tmp_path / "c.jsonl",
        b'{"_id": "a", "text": "first"}\r\n{"_id": "b", "text": "second"}\r\n',
    )
    assert [(r.docid, r.text) for r in iter_records(f)] == [("a", "first"), ("b", "second")]
    tsv = write_bytes(tmp_path / "c.tsv", b"a\tfirst doc\r\nb\tsecond doc\r\n")
    # The CR must not leak into the TSV text (it is the last field of the line).
    assert [(r.docid, r.text) for r in iter_records(tsv)] == [("a", "first doc"), ("b", "second doc")]


def test_utf8_bom_on_first_line(tmp_path):
    f = write_bytes(
        tmp_path / "c.jsonl",
        "\ufeff".encode() + b'{"_id": "a", "text": "x"}\n{"_id": "b", "text": "y"}\n',
    )
    assert [r.docid for r in iter_records(f)] == ["a", "b"]
    # In a TSV the BOM would otherwise become part of the first id.
    tsv = write_bytes(tmp_path / "c.tsv", "\ufeff".encode() + b"a\tx\nb\ty\n")
    assert [r.docid for r in iter_records(tsv)] == ["a", "b"]


def test_bom_with_crlf_in_gzip(tmp_path):
    f = tmp_path / "c.jsonl.gz"
    with gzip.open(f, "wb") as h:
        h.write("\ufeff".encode() + b'{"_id": "a", "text": "x"}\r\n{"_id": "b", "text": "y"}\r\n')
    assert [(r.docid, r.text) for r in iter_records(f)] == [("a", "x"), ("b", "y")]


def test_jsonl_gz(tmp_path):
    docs = [{"_id": f"d{i}", "title": f"t{i}", "text": f"text {i}"} for i in range(200)]
    f = tmp_path / "corpus.jsonl.gz"
    with gzip.open(f, "wt", encoding="utf-8") as h:
        for d in docs:
            h.write(json.dumps(d) + "\n")
    records = list(iter_records(f))
    assert [r.docid for r in records] == [d["_id"] for d in docs]
    assert [r.text for r in records] == [f"t{i} text {i}" for i in range(200)]
    # A directory holding only corpus.jsonl.gz picks it up too.
    assert corpus_files(tmp_path) == [f]
    assert len(list(read_corpus(tmp_path))) == 200


def test_tsv_gz(tmp_path):
    f = tmp_path / "collection.tsv.gz"
    with gzip.open(f, "wb") as h:
        h.write(b"0\tfirst passage\n1\tsecond passage\n")
    assert [(r.docid, r.text) for r in iter_records(f)] == [("0", "first passage"), ("1", "second passage")]


def test_msmarco_tsv(tmp_path):
    f = write_bytes(
        tmp_path / "collection.tsv",
        b"0\tThe presence of communication amid scientific minds.\n"
        b"1\tText with\ta tab inside stays in the text.\n"
        b"7\t\n",
    )
    records = list(iter_records(f))
    assert [(r.docid, r.text, r.line) for r in records] == [
        ("0", "The presence of communication amid scientific minds.", 1),
        ("1", "Text with\ta tab inside stays in the text.", 2),
        ("7", "", 3),
    ]
    assert records[2].is_empty


def test_txt_is_read_as_tsv(tmp_path):
    f = write_bytes(tmp_path / "topics.txt", b"q1\twhat is a cat\n")
    assert list(read_topics(f)) == [Record("q1", "what is a cat", 1)]


def test_fields_selection(tmp_path):
    f = write_jsonl(tmp_path / "c.jsonl", [
        {"_id": "a", "title": " T ", "text": " body ", "abstract": "abs", "contents": "ignored"},
        {"_id": "b", "text": "only body"},
        {"_id": "c", "title": "only title"},
        {"_id": "d", "title": "", "text": ""},
    ])
    got = [(r.docid, r.text) for r in iter_records(f, fields=["title", "text"])]
    # ``fields`` overrides ``contents``; parts are stripped and joined with one space.
    assert got == [("a", "T body"), ("b", "only body"), ("c", "only title"), ("d", "")]
    # The order of ``fields`` is the order of the joined text.
    got = [r.text for r in iter_records(f, fields=["text", "abstract", "title"])]
    assert got == ["body abs T", "only body", "only title", ""]
    # A single non-default field.
    assert next(iter_records(f, fields=["abstract"])).text == "abs"


def test_fields_selection_missing_all_fields_is_an_error(tmp_path):
    f = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "title": "t"}, {"_id": "b", "body": "x"}])
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(f, fields=["body"]))
    assert_error(exc, f, 1, "missing text field", "body")
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(f, fields=["title", "text"]))
    assert_error(exc, f, 2, "missing text field", "title, text")


def test_multilingual_round_trip(tmp_path):
    texts = {
        "ar": "اللغة العربية هي إحدى أكثر اللغات انتشاراً في العالم",
        "zh": "中文是世界上使用人数最多的语言之一。",
        "hi": "हिन्दी भारत की राजभाषा है।",
        "th": "ภาษาไทยเป็นภาษาราชการของประเทศไทย",
        "mixed": "naïve café – Ünïcödé 😀 \u200d\u200c combining e\u0301",
    }
    for ensure_ascii in (True, False):
        f = write_jsonl(tmp_path / f"c{ensure_ascii}.jsonl",
                        [{"_id": k, "title": "", "text": v} for k, v in texts.items()],
                        ensure_ascii=ensure_ascii)
        assert {r.docid: r.text for r in iter_records(f)} == texts
    tsv = tmp_path / "c.tsv"
    tsv.write_text("".join(f"{k}\t{v}\n" for k, v in texts.items()), encoding="utf-8")
    assert {r.docid: r.text for r in iter_records(tsv)} == texts
    gz = tmp_path / "c.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as h:
        for k, v in texts.items():
            h.write(json.dumps({"_id": k, "text": v}, ensure_ascii=False) + "\n")
    assert {r.docid: r.text for r in iter_records(gz)} == texts


def test_unicode_line_separators_inside_json_strings_do_not_split_lines(tmp_path):
    # U+2028/U+2029/U+0085 are line breaks for str.splitlines() but not for JSONL.
    text = "a\u2028b\u2029c\x85d\x0be\x0cf"
    f = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "contents": text}, {"_id": "b", "contents": "x"}],
                    ensure_ascii=False)
    assert [(r.docid, r.text) for r in iter_records(f)] == [("a", text), ("b", "x")]


def test_empty_text_is_kept_and_warned(tmp_path, caplog):
    f = write_jsonl(tmp_path / "c.jsonl", [
        {"_id": "a", "title": "", "text": ""},
        {"_id": "b", "text": "   \t "},
        {"_id": "c", "text": "real"},
        {"_id": "d", "contents": ""},
    ])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        records = list(iter_records(f))
    assert [r.docid for r in records] == ["a", "b", "c", "d"]
    assert [r.is_empty for r in records] == [True, True, False, True]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(f) in m and "3 records with empty text" in m for m in warnings), warnings


def test_no_warning_without_empty_texts(tmp_path, caplog):
    f = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        list(iter_records(f))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_readers_are_lazy_generators(tmp_path):
    # A bad line far down must not prevent reading the good lines before it.
    f = write_bytes(tmp_path / "c.jsonl", b'{"_id": "a", "text": "x"}\nnot json\n')
    it = read_corpus(f)
    assert next(it).docid == "a"
    with pytest.raises(InputFormatError):
        next(it)


# --------------------------------------------------------------------------- errors


def test_invalid_json(tmp_path):
    f = write_bytes(tmp_path / "c.jsonl", b'{"_id": "a", "text": "x"}\n{"_id": "b", "text": \n')
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(f))
    assert_error(exc, f, 2, "invalid JSON", "column")


def test_invalid_json_error_is_a_value_error(tmp_path):
    f = write_bytes(tmp_path / "c.jsonl", b"{oops\n")
    with pytest.raises(ValueError):
        list(iter_records(f))


@pytest.mark.parametrize("value, type_name", [
    ("[1, 2]", "list"), ('"a string"', "str"), ("42", "int"), ("null", "NoneType"), ("true", "bool"),
])
def test_json_value_not_an_object(tmp_path, value, type_name):
    f = write_bytes(tmp_path / "c.jsonl", b'{"_id": "a", "text": "x"}\n\n' + value.encode() + b"\n")
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(f))
    assert_error(exc, f, 3, "expected a JSON object", type_name)


def test_missing_id(tmp_path):
    f = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}, {"title": "t", "text": "no id"}])
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(f))
    assert_error(exc, f, 2, "missing id field", "_id", "docid")


@pytest.mark.parametrize("bad_id", ["", "   ", None, True, 1.5, ["x"]])
def test_empty_or_non_string_id(tmp_path, bad_id):
    f = write_jsonl(tmp_path / "c.jsonl", [{"_id": bad_id, "text": "x"}])
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(f))
    assert_error(exc, f, 1, "'_id'", "non-empty string", repr(bad_id))


@pytest.mark.parametrize("bad_id", ["a b", "a\tb", "tail ", " head", "a\u00a0b", "a\u3000b", "a\nb"])
def test_id_with_whitespace(tmp_path, bad_id):
    f = write_jsonl(tmp_path / "c.jsonl", [{"id": bad_id, "contents": "x"}])
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(f))
    assert_error(exc, f, 1, "'id'", "whitespace", repr(bad_id))


def test_missing_text_field(tmp_path):
    f = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}, {"_id": "b", "body": "x"}])
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(f))
    assert_error(exc, f, 2, "missing text field", "contents", "title/text")


def test_non_string_text_counts_as_missing(tmp_path):
    f = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": 5}])
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(f))
    assert_error(exc, f, 1, "missing text field")


def test_duplicate_id_within_file(tmp_path):
    f = write_jsonl(tmp_path / "c.jsonl", [
        {"_id": "a", "text": "x"}, {"_id": "b", "text": "y"}, {"_id": "a", "text": "z"},
    ])
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(f))
    assert_error(exc, f, 3, "duplicate id", "'a'")
    # Same through read_corpus, and for TSV.
    with pytest.raises(InputFormatError) as exc:
        list(read_corpus(f))
    assert_error(exc, f, 3, "duplicate id", "'a'")
    tsv = write_bytes(tmp_path / "c.tsv", b"1\tx\n2\ty\n1\tz\n")
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(tsv))
    assert_error(exc, tsv, 3, "duplicate id", "'1'")


def test_duplicates_allowed_when_check_disabled(tmp_path):
    f = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}, {"_id": "a", "text": "z"}])
    assert [r.text for r in iter_records(f, check_duplicates=False)] == ["x", "z"]


def test_duplicate_id_across_files_of_a_directory(tmp_path):
    write_jsonl(tmp_path / "part-a.jsonl", [{"_id": "a", "text": "x"}, {"_id": "b", "text": "y"}])
    second = write_jsonl(tmp_path / "part-b.jsonl", [{"_id": "c", "text": "z"}, {"_id": "b", "text": "again"}])
    (tmp_path / "README.md").write_text("not a corpus file")
    assert corpus_files(tmp_path) == [tmp_path / "part-a.jsonl", second]
    with pytest.raises(InputFormatError) as exc:
        list(read_corpus(tmp_path))
    assert_error(exc, second, 2, "duplicate id", "'b'", "earlier file")


def test_directory_mixing_jsonl_and_tsv(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"_id": "1", "text": "json doc"}])
    write_bytes(tmp_path / "b.tsv", b"2\ttsv doc\n")
    assert [(r.docid, r.text) for r in read_corpus(tmp_path)] == [("1", "json doc"), ("2", "tsv doc")]


def test_corpus_jsonl_preferred_in_beir_directory(tmp_path):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"_id": "d", "text": "doc"}])
    write_jsonl(tmp_path / "queries.jsonl", [{"_id": "q", "text": "query"}])
    assert corpus_files(tmp_path) == [corpus]
    assert [r.docid for r in read_corpus(tmp_path)] == ["d"]


def test_corpus_files_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such corpus"):
        corpus_files(tmp_path / "missing")
    (tmp_path / "notes.md").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"no \*\.jsonl"):
        corpus_files(tmp_path)


def test_unknown_extension(tmp_path):
    f = write_bytes(tmp_path / "corpus.csv", b"a,b\n")
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(f))
    assert_error(exc, f, 0, "unknown format")


def test_non_utf8_bytes(tmp_path):
    bad_line = b'{"_id": "b", "text": "caf\xe9"}'
    f = write_bytes(tmp_path / "c.jsonl", b'{"_id": "a", "text": "ok"}\n' + bad_line + b"\n")
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(f))
    # The byte offset is within the line, so the user can find the bad byte.
    offset = bad_line.index(b"\xe9")
    assert_error(exc, f, 2, "not valid UTF-8", f"byte {offset}")
    tsv = write_bytes(tmp_path / "c.tsv", b"\xff\xfeb\tx\n")
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(tsv))
    assert_error(exc, tsv, 1, "not valid UTF-8", "byte 0")


def test_line_longer_than_max_line_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 1000)
    ok = json.dumps({"_id": "a", "text": "x"}) + "\n"
    too_long = json.dumps({"_id": "b", "text": "y" * 2000}) + "\n"
    f = write_bytes(tmp_path / "c.jsonl", (ok + too_long + ok.replace('"a"', '"c"')).encode())
    it = iter_records(f)
    assert next(it).docid == "a"
    with pytest.raises(InputFormatError) as exc:
        next(it)
    assert_error(exc, f, 2, "longer than 1000 bytes")


def test_line_length_limit_boundary(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 100)
    prefix = "x\t"
    exactly = prefix + "a" * (100 - len(prefix))  # 100 bytes, newline not counted
    f = write_bytes(tmp_path / "ok.tsv", (exactly + "\n" + exactly.replace("x", "y", 1)).encode())
    assert [len(r.text) for r in iter_records(f)] == [98, 98]
    over = write_bytes(tmp_path / "over.tsv", (exactly + "a\n").encode())
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(over))
    assert_error(exc, over, 1, "longer than 100 bytes")
    # Without a trailing newline at end of file, too.
    over_eof = write_bytes(tmp_path / "over_eof.tsv", (exactly + "a").encode())
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(over_eof))
    assert_error(exc, over_eof, 1, "longer than 100 bytes")


def test_line_length_limit_default_is_large():
    assert MAX_LINE_BYTES >= 1024 * 1024


def test_tsv_line_without_tab(tmp_path):
    f = write_bytes(tmp_path / "collection.tsv", b"1\tgood\n2 no tab here\n")
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(f))
    assert_error(exc, f, 2, "expected 'id<TAB>text'")


@pytest.mark.parametrize("line", [b"\ttext\n", b" \ttext\n", b"a b\ttext\n"])
def test_tsv_bad_id(tmp_path, line):
    f = write_bytes(tmp_path / "c.tsv", line)
    with pytest.raises(InputFormatError) as exc:
        list(iter_records(f))
    assert_error(exc, f, 1, "bad id", "whitespace")


# --------------------------------------------------------------------------- skip_bad


def test_skip_bad_skips_and_counts(tmp_path, caplog):
    f = write_bytes(tmp_path / "c.jsonl", b"\n".join([
        b'{"_id": "a", "text": "good 1"}',
        b"{broken json",
        b'["not", "an", "object"]',
        b'{"text": "no id"}',
        b'{"_id": "b c", "text": "space in id"}',
        b'{"_id": "d", "title": 1}',
        b'{"_id": "e", "text": "caf\xe9"}',
        b'{"_id": "a", "text": "duplicate"}',
        b'{"_id": "f", "text": "good 2"}',
    ]) + b"\n")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        records = list(iter_records(f, skip_bad=True))
    assert [(r.docid, r.text, r.line) for r in records] == [("a", "good 1", 1), ("f", "good 2", 9)]
    messages = [r.getMessage() for r in caplog.records]
    skipped = [m for m in messages if m.startswith("skipped: ")]
    assert len(skipped) == 7
    for lineno in range(2, 9):
        assert any(m.startswith(f"skipped: {f}:{lineno}: ") for m in skipped), lineno
    assert any(str(f) in m and "7 bad lines skipped" in m for m in messages), messages


def test_skip_bad_across_files_keeps_first_occurrence(tmp_path, caplog):
    write_jsonl(tmp_path / "a.jsonl", [{"_id": "x", "text": "first"}])
    second = write_jsonl(tmp_path / "b.jsonl", [{"_id": "x", "text": "second"}, {"_id": "y", "text": "ok"}])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        records = list(read_corpus(tmp_path, skip_bad=True))
    assert [(r.docid, r.text) for r in records] == [("x", "first"), ("y", "ok")]
    assert any(f"{second}:1:" in r.getMessage() and "duplicate" in r.getMessage() for r in caplog.records)


def test_skip_bad_tsv(tmp_path):
    f = write_bytes(tmp_path / "c.tsv", b"1\tone\nno tab\n\tempty id\n2\ttwo\n")
    assert [r.docid for r in iter_records(f, skip_bad=True)] == ["1", "2"]


def test_skip_bad_skips_too_long_line(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 100)
    f = write_bytes(tmp_path / "c.tsv", b"1\tone\n2\t" + b"x" * 500 + b"\n3\tthree\n")
    assert [r.docid for r in iter_records(f, skip_bad=True)] == ["1", "3"]


def test_read_topics_jsonl_and_tsv(tmp_path):
    q = write_jsonl(tmp_path / "queries.jsonl", [
        {"_id": "q1", "text": "what is splade", "metadata": {}},
        {"_id": "q2", "text": "sparse autoencoder"},
    ])
    assert list(read_topics(q)) == [Record("q1", "what is splade", 1), Record("q2", "sparse autoencoder", 2)]
    t = write_bytes(tmp_path / "queries.dev.small.tsv", b"1048585\twhat is paula deen's brother\n2\tx\n")
    assert [(r.docid, r.text) for r in read_topics(t)] == [("1048585", "what is paula deen's brother"), ("2", "x")]
    bad = write_bytes(tmp_path / "bad.tsv", b"1\tok\n2 missing tab\n3\tok\n")
    with pytest.raises(InputFormatError) as exc:
        list(read_topics(bad))
    assert_error(exc, bad, 2, "id<TAB>text")
    assert [r.docid for r in read_topics(bad, skip_bad=True)] == ["1", "3"]


# --------------------------------------------------------------------------- qrels


def test_read_qrels_beir_tsv_with_header(tmp_path):
    f = write_bytes(tmp_path / "test.tsv", b"query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\nq2\td1\t2\n\n")
    assert read_qrels(f) == {"q1": {"d1": 1, "d2": 0}, "q2": {"d1": 2}}


def test_read_qrels_beir_header_with_bom_and_crlf(tmp_path):
    f = write_bytes(tmp_path / "test.tsv",
                    "\ufeff".encode() + b"query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\n")
    assert read_qrels(f) == {"q1": {"d1": 1}}


def test_read_qrels_trec(tmp_path):
    f = write_bytes(tmp_path / "qrels.txt", b"301 0 FBIS3-10082 1\n301 0 FBIS3-10169 0\n302 Q0 LA-1 2\n")
    assert read_qrels(f) == {"301": {"FBIS3-10082": 1, "FBIS3-10169": 0}, "302": {"LA-1": 2}}
    tabbed = write_bytes(tmp_path / "qrels.tab", b"301\t0\td1\t1\n")
    assert read_qrels(tabbed) == {"301": {"d1": 1}}
    negative = write_bytes(tmp_path / "neg.txt", b"1 0 d1 -1\n")
    assert read_qrels(negative) == {"1": {"d1": -1}}


def test_read_qrels_gz(tmp_path):
    f = tmp_path / "qrels.tsv.gz"
    with gzip.open(f, "wb") as h:
        h.write(b"query-id\tcorpus-id\tscore\nq\td\t1\n")
    assert read_qrels(f) == {"q": {"d": 1}}


@pytest.mark.parametrize("rel", ["x", "1.5", "high", ""])
def test_read_qrels_bad_relevance(tmp_path, rel):
    f = write_bytes(tmp_path / "qrels.txt", f"1 0 d1 1\n2\t0\td2\t{rel}\n".encode())
    with pytest.raises(InputFormatError) as exc:
        read_qrels(f)
    assert_error(exc, f, 2, "relevance", repr(rel), "not an integer")


def test_read_qrels_wrong_column_count(tmp_path):
    f = write_bytes(tmp_path / "qrels.txt", b"1 0 d1 1\n1 0 d1 1 extra\n")
    with pytest.raises(InputFormatError) as exc:
        read_qrels(f)
    assert_error(exc, f, 2, "expected 3 (BEIR) or 4 (TREC) columns, got 5")


def test_read_qrels_header_only_on_first_line(tmp_path):
    f = write_bytes(tmp_path / "qrels.tsv", b"q1\td1\t1\nquery-id\tcorpus-id\tscore\n")
    with pytest.raises(InputFormatError) as exc:
        read_qrels(f)
    assert_error(exc, f, 2, "'score'", "not an integer")


# --------------------------------------------------------------------------- shared data


def shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


def test_shared_medline_corpus():
    records = list(read_corpus(shared("medline")))
    assert len(records) == 1033
    assert len({r.docid for r in records}) == 1033
    assert all(r.text and not r.is_empty for r in records)
    assert records[0].docid == "1"
    assert records[0].text.startswith("correlation between maternal and fetal plasma")


def test_shared_medline_queries_and_qrels():
    queries = list(read_topics(shared("medline", "queries.jsonl")))
    qrels = read_qrels(shared("medline", "qrels", "test.tsv"))
    assert len(qrels) == 30
    assert len(queries) == 30
    assert {q.docid for q in queries} == set(qrels)
    doc_ids = {r.docid for r in read_corpus(shared("medline"))}
    judged = {d for docs in qrels.values() for d in docs}
    assert judged <= doc_ids
    assert all(isinstance(v, int) for docs in qrels.values() for v in docs.values())


def test_shared_msmarco_dl19_topics_and_qrels():
    queries = list(read_topics(shared("msmarco-topics", "dl19-passage", "queries.jsonl")))
    qrels = read_qrels(shared("msmarco-topics", "dl19-passage", "qrels", "test.tsv"))
    assert len(queries) == len({q.docid for q in queries})
    assert set(qrels) <= {q.docid for q in queries}
    assert len(qrels) == 43  # TREC DL 2019 passage: 43 judged queries


# --------------------------------------------------------------------------- properties

ids = st.text(min_size=1, max_size=20).filter(lambda s: not any(c.isspace() for c in s))
PROPERTY_SETTINGS = settings(max_examples=50, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])


def joined_text(title: str | None, text: str | None) -> str:
    """What the reader makes of BEIR ``title`` and ``text`` (each stripped, non-empty ones joined)."""
    return " ".join(p.strip() for p in (title, text) if p is not None and p.strip())


@PROPERTY_SETTINGS
@given(docs=st.lists(st.tuples(ids, st.text()), max_size=15, unique_by=lambda d: d[0]),
       ensure_ascii=st.booleans())
def test_property_beir_text_round_trip(tmp_path, docs, ensure_ascii):
    f = write_jsonl(tmp_path / "prop_text.jsonl", [{"_id": i, "text": t} for i, t in docs],
                    ensure_ascii=ensure_ascii)
    records = list(iter_records(f))
    assert [r.docid for r in records] == [i for i, _ in docs]
    assert [r.text for r in records] == [t.strip() for _, t in docs]
    assert [r.is_empty for r in records] == [not t.strip() for _, t in docs]


@PROPERTY_SETTINGS
@given(docs=st.lists(st.tuples(ids, st.text(), st.text()), max_size=15, unique_by=lambda d: d[0]))
def test_property_beir_title_text_join(tmp_path, docs):
    f = write_jsonl(tmp_path / "prop_title.jsonl", [{"_id": i, "title": ti, "text": t} for i, ti, t in docs],
                    ensure_ascii=False)
    records = list(read_corpus(f))
    assert [r.docid for r in records] == [i for i, _, _ in docs]
    assert [r.text for r in records] == [joined_text(ti, t) for _, ti, t in docs]


@PROPERTY_SETTINGS
@given(docs=st.lists(st.tuples(ids, st.text()), max_size=15, unique_by=lambda d: d[0]))
def test_property_pyserini_contents_is_verbatim(tmp_path, docs):
    f = write_jsonl(tmp_path / "prop_contents.jsonl", [{"id": i, "contents": t} for i, t in docs],
                    ensure_ascii=False)
    records = list(iter_records(f))
    assert [(r.docid, r.text) for r in records] == docs


@PROPERTY_SETTINGS
@given(docs=st.lists(
    st.tuples(ids.filter(lambda s: "\t" not in s and not s.startswith("\ufeff")),
              st.text().filter(lambda s: "\n" not in s and not s.endswith("\r"))),
    max_size=15, unique_by=lambda d: d[0]))
def test_property_tsv_round_trip(tmp_path, docs):
    f = tmp_path / "prop.tsv"
    f.write_bytes("".join(f"{i}\t{t}\n" for i, t in docs).encode("utf-8"))
    records = list(iter_records(f))
    assert [(r.docid, r.text) for r in records] == docs
