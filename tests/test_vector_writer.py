"""Tests for splare_pyserini.io.vector_writer: real files in tmp_path, no mocks.

Anserini indexes every file under ``--input``, so the output directory must only ever
hold complete ``part-*.jsonl`` files; a crash at any point must be resumable with every
id written exactly once.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splare_pyserini.modeling.sparse_vectors import PLACEHOLDER_TERM
from splare_pyserini.io.vector_writer import Manifest, VectorWriter, state_dir, vector_line

SETTINGS = {"model": "splare-test", "top_k": 64, "quant": 100, "max_length": 512}
PART_RE = re.compile(r"part-\d{5}\.jsonl")


def vec(i: int) -> dict[str, int]:
    return {f"f{i}": i + 1, f"f{i + 1000}": 7}


def read_parts(out: Path, prefix: str = "part") -> list[dict]:
    rows = []
    for part in sorted(out.glob(f"{prefix}-*.jsonl")):
        with open(part, encoding="utf-8") as h:
            rows.extend(json.loads(line) for line in h)
    return rows


def load_manifest(out: Path, prefix: str = "part") -> dict:
    return json.loads((state_dir(out) / f"{prefix}.manifest.json").read_text(encoding="utf-8"))


def assert_only_complete_parts(out: Path, per_part: int) -> None:
    """Every file in ``out`` is a finished part: right name, full size, valid JSONL."""
    names = sorted(p.name for p in out.iterdir())
    assert all(PART_RE.fullmatch(n) for n in names), names
    for name in names:
        lines = (out / name).read_text(encoding="utf-8").splitlines()
        assert len(lines) == per_part, (name, len(lines))
        for line in lines:
            assert set(json.loads(line)) == {"id", "contents", "vector"}


# --------------------------------------------------------------------------- vector_line


def test_vector_line_is_one_json_line():
    line = vector_line("d1", "some text", {"f1": 3, "f22": 1})
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line) == {"id": "d1", "contents": "some text", "vector": {"f1": 3, "f22": 1}}


def test_vector_line_keeps_non_ascii_unescaped():
    contents = "naïve café — العربية 中文 हिन्दी ภาษาไทย 😀"
    line = vector_line("doc-é", contents, {"f7": 2})
    assert contents in line and "doc-é" in line
    assert "\\u" not in line
    assert json.loads(line) == {"id": "doc-é", "contents": contents, "vector": {"f7": 2}}
    line.encode("utf-8")  # writable as UTF-8 (no lone surrogates)


def test_vector_line_escapes_line_breaks_in_contents():
    line = vector_line("d", "a\nb\rc\r\nd", {"f1": 1})
    assert line.count("\n") == 1 and "\r" not in line
    assert json.loads(line)["contents"] == "a\nb\rc\r\nd"


def test_empty_vector_gets_placeholder_term():
    assert json.loads(vector_line("d", "", {}))["vector"] == {PLACEHOLDER_TERM: 1}
    assert PLACEHOLDER_TERM == "[unused0]"
    # A non-empty vector is written as is, without the placeholder.
    assert json.loads(vector_line("d", "", {"f3": 5}))["vector"] == {"f3": 5}


def test_writer_empty_vector_gets_placeholder_term(tmp_path):
    out = tmp_path / "vectors"
    w = VectorWriter(out, SETTINGS)
    w.add("empty", "", {})
    w.add("full", "text", {"f1": 2})
    w.close()
    rows = read_parts(out)
    assert rows == [
        {"id": "empty", "contents": "", "vector": {PLACEHOLDER_TERM: 1}},
        {"id": "full", "contents": "text", "vector": {"f1": 2}},
    ]


@settings(max_examples=50, deadline=None)
@given(docid=st.text(min_size=1), contents=st.text(),
       vector=st.dictionaries(st.text(min_size=1), st.integers(min_value=1, max_value=2**31 - 1), max_size=10))
def test_property_vector_line_round_trip(docid, contents, vector):
    line = vector_line(docid, contents, vector)
    assert line.count("\n") == 1 and line.endswith("\n")
    assert "\r" not in line
    assert json.loads(line) == {"id": docid, "contents": contents, "vector": vector or {PLACEHOLDER_TERM: 1}}


# --------------------------------------------------------------------------- layout


def test_state_dir_is_a_hidden_sibling(tmp_path):
    out = tmp_path / "runs" / "vectors"
    assert state_dir(out) == tmp_path / "runs" / ".vectors.splare"


def test_parts_appear_only_when_complete(tmp_path):
    out = tmp_path / "vectors"
    w = VectorWriter(out, SETTINGS, records_per_part=3)
    seen_parts = []
    for i in range(8):
        w.add(f"d{i}", f"text {i}", vec(i))
        # At every moment the output dir holds only full parts and nothing else.
        assert_only_complete_parts(out, per_part=3)
        assert not list(state_dir(out).glob("*.tmp"))
        seen_parts.append(len(list(out.iterdir())))
    assert seen_parts == [0, 0, 1, 1, 1, 2, 2, 2]
    w.close()
    names = sorted(p.name for p in out.iterdir())
    assert names == ["part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    assert [len((out / n).read_text(encoding="utf-8").splitlines()) for n in names] == [3, 3, 2]
    assert [r["id"] for r in read_parts(out)] == [f"d{i}" for i in range(8)]
    # No temporaries left anywhere.
    assert not list(out.rglob("*.tmp")) and not list(state_dir(out).glob("*.tmp"))


def test_manifest_lives_in_state_dir_not_output_dir(tmp_path):
    out = tmp_path / "vectors"
    w = VectorWriter(out, SETTINGS, records_per_part=2)
    for i in range(5):
        w.add(f"d{i}", "", vec(i))
    w.close()
    assert w.manifest_path == state_dir(out) / "part.manifest.json"
    assert w.manifest_path.is_file()
    assert not list(out.glob("*manifest*"))
    assert all(PART_RE.fullmatch(p.name) for p in out.iterdir())
    assert sorted(p.name for p in state_dir(out).iterdir()) == ["part.manifest.json"]
    m = load_manifest(out)
    assert m["settings"] == SETTINGS
    assert m["parts"] == [
        {"file": "part-00000.jsonl", "records": 2, "lines": 2},
        {"file": "part-00001.jsonl", "records": 2, "lines": 2},
        {"file": "part-00002.jsonl", "records": 1, "lines": 1},
    ]


def test_custom_prefix(tmp_path):
    out = tmp_path / "vectors"
    w = VectorWriter(out, SETTINGS, prefix="shard3", records_per_part=2)
    for i in range(3):
        w.add(f"d{i}", "", vec(i))
    w.close()
    assert sorted(p.name for p in out.iterdir()) == ["shard3-00000.jsonl", "shard3-00001.jsonl"]
    assert (state_dir(out) / "shard3.manifest.json").is_file()
    # Another prefix in the same directory is independent (e.g. another shard).
    w2 = VectorWriter(out, SETTINGS, prefix="shard4", records_per_part=2)
    w2.add("e0", "", vec(0))
    w2.close()
    assert [r["id"] for r in read_parts(out, "shard4")] == ["e0"]


def test_relative_dot_output_dir_keeps_state_outside(tmp_path, monkeypatch):
    out = tmp_path / "vectors"
    out.mkdir()
    monkeypatch.chdir(out)
    w = VectorWriter(".", SETTINGS)
    w.add("d0", "", vec(0))
    w.close()
    assert all(PART_RE.fullmatch(p.name) for p in out.iterdir()), sorted(p.name for p in out.iterdir())


def test_empty_close_writes_no_part(tmp_path):
    out = tmp_path / "vectors"
    w = VectorWriter(out, SETTINGS)
    w.close()
    assert list(out.iterdir()) == []
    m = load_manifest(out)
    assert m["complete"] is True and m["parts"] == []


# --------------------------------------------------------------------------- manifest


def test_close_marks_manifest_complete(tmp_path):
    out = tmp_path / "vectors"
    w = VectorWriter(out, SETTINGS, records_per_part=2)
    for i in range(3):
        w.add(f"d{i}", "", vec(i))
    m = load_manifest(out)
    assert m["complete"] is False
    assert len(m["parts"]) == 1
    w.close()
    m = load_manifest(out)
    assert m["complete"] is True
    assert Manifest(**m).records_done == 3
    assert w.records_done == 3


def test_skip_counts_records_without_lines(tmp_path):
    out = tmp_path / "vectors"
    w = VectorWriter(out, SETTINGS, records_per_part=4)
    w.add("d0", "", vec(0))
    w.skip(2)  # e.g. two bad input lines
    w.add("d3", "", vec(3))  # fourth record: the part is full
    assert load_manifest(out)["parts"] == [{"file": "part-00000.jsonl", "records": 4, "lines": 2}]
    w.skip()
    w.close()
    # A part with only skipped records still gets written (empty) so the count is recorded.
    m = load_manifest(out)
    assert m["parts"][1] == {"file": "part-00001.jsonl", "records": 1, "lines": 0}
    assert w.records_done == 5
    assert [r["id"] for r in read_parts(out)] == ["d0", "d3"]


def test_manifest_records_done():
    m = Manifest(settings={}, parts=[{"file": "a", "records": 3, "lines": 3}, {"file": "b", "records": 2, "lines": 1}])
    assert m.records_done == 5
    assert Manifest(settings={}).records_done == 0


# --------------------------------------------------------------------------- refusing to clobber


def test_existing_parts_without_resume_raise(tmp_path):
    out = tmp_path / "vectors"
    w = VectorWriter(out, SETTINGS)
    w.add("d0", "", vec(0))
    w.close()
    before = (out / "part-00000.jsonl").read_bytes()
    with pytest.raises(FileExistsError, match="resume"):
        VectorWriter(out, SETTINGS)
    # Nothing was touched.
    assert sorted(p.name for p in out.iterdir()) == ["part-00000.jsonl"]
    assert (out / "part-00000.jsonl").read_bytes() == before


def test_foreign_parts_without_manifest_raise_even_with_resume(tmp_path):
    out = tmp_path / "vectors"
    out.mkdir()
    (out / "part-00000.jsonl").write_text('{"id": "x", "contents": "", "vector": {}}\n', encoding="utf-8")
    with pytest.raises(FileExistsError):
        VectorWriter(out, SETTINGS, resume=True)
    assert (out / "part-00000.jsonl").exists()


def test_resume_on_empty_dir_starts_fresh(tmp_path):
    out = tmp_path / "vectors"
    w = VectorWriter(out, SETTINGS, resume=True)
    assert w.records_done == 0
    w.add("d0", "", vec(0))
    w.close()
    assert [r["id"] for r in read_parts(out)] == ["d0"]


def test_resume_with_different_settings_names_the_key(tmp_path):
    out = tmp_path / "vectors"
    w = VectorWriter(out, SETTINGS)
    w.add("d0", "", vec(0))
    w.flush()
    with pytest.raises(ValueError) as exc:
        VectorWriter(out, {**SETTINGS, "top_k": 128}, resume=True)
    msg = str(exc.value)
    assert "top_k" in msg and "cannot resume" in msg
    assert "model" not in msg and "quant" not in msg
    assert str(state_dir(out) / "part.manifest.json") in msg
    # Added and removed keys are named too.
    with pytest.raises(ValueError, match="new_key"):
        VectorWriter(out, {**SETTINGS, "new_key": 1}, resume=True)
    missing = dict(SETTINGS)
    del missing["quant"]
    with pytest.raises(ValueError, match="quant"):
        VectorWriter(out, missing, resume=True)
    # The finished part is still there and a resume with the same settings works.
    assert VectorWriter(out, dict(SETTINGS), resume=True).records_done == 1


# --------------------------------------------------------------------------- crash and resume


def test_simulated_crash_and_resume_writes_each_id_once(tmp_path):
    out = tmp_path / "vectors"
    n_total, per_part = 23, 4
    w = VectorWriter(out, SETTINGS, records_per_part=per_part)
    for i in range(10):  # two full parts flushed, two records still buffered
        w.add(f"d{i}", f"text {i}", vec(i))
    flushed = 8
    assert w.records_done == flushed
    # The process dies here: buffered records are lost. Also simulate a death between
    # the rename of part 2 and the manifest update, and one during the write of a temporary.
    del w
    stray_part = out / "part-00002.jsonl"
    stray_part.write_text(vector_line("d8", "", vec(8)) + vector_line("d9", "", vec(9)), encoding="utf-8")
    stray_tmp = state_dir(out) / "part-00003.jsonl.tmp"
    stray_tmp.write_text('{"id": "half', encoding="utf-8")
    assert load_manifest(out)["complete"] is False

    w = VectorWriter(out, SETTINGS, records_per_part=per_part, resume=True)
    assert not stray_part.exists()
    assert not stray_tmp.exists()
    assert w.records_done == flushed
    assert sorted(p.name for p in out.iterdir()) == ["part-00000.jsonl", "part-00001.jsonl"]

    for i in range(w.records_done, n_total):
        w.add(f"d{i}", f"text {i}", vec(i))
    w.close()

    ids = [r["id"] for r in read_parts(out)]
    assert ids == [f"d{i}" for i in range(n_total)]
    assert len(ids) == len(set(ids))
    m = load_manifest(out)
    assert m["complete"] is True
    assert sum(p["records"] for p in m["parts"]) == n_total
    assert [p["file"] for p in m["parts"]] == sorted(p.name for p in out.iterdir())
    assert all(PART_RE.fullmatch(p.name) for p in out.iterdir())
    assert not list(state_dir(out).glob("*.tmp"))
    # The resumed records carry the right payload, not the stray one.
    rows = {r["id"]: r for r in read_parts(out)}
    assert rows["d9"] == {"id": "d9", "contents": "text 9", "vector": vec(9)}


def test_repeated_crashes_with_skips(tmp_path):
    """Several crashes in a row, with skipped records, still give each kept id exactly once."""
    out = tmp_path / "vectors"
    n_total = 30
    kept = [i for i in range(n_total) if i % 7 != 3]  # every 7th record is "bad" and skipped
    for crash_after in (5, 11, 4, None):
        w = VectorWriter(out, SETTINGS, records_per_part=3, resume=True)
        start = w.records_done
        for k, i in enumerate(range(start, n_total)):
            if crash_after is not None and k == crash_after:
                break  # crash: the writer is dropped without flush/close
            if i % 7 == 3:
                w.skip()
            else:
                w.add(f"d{i}", "", vec(i))
        else:
            w.close()
        assert_only_complete_parts_lenient(out)
    ids = [r["id"] for r in read_parts(out)]
    assert ids == [f"d{i}" for i in kept]
    assert load_manifest(out)["complete"] is True


def assert_only_complete_parts_lenient(out: Path) -> None:
    names = sorted(p.name for p in out.iterdir())
    assert all(PART_RE.fullmatch(n) for n in names), names
    known = {p["file"] for p in load_manifest(out)["parts"]}
    assert set(names) == known


class _Boom(Exception):
    pass


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_total=st.integers(min_value=0, max_value=40),
       per_part=st.integers(min_value=1, max_value=7),
       crash_points=st.lists(st.integers(min_value=0, max_value=40), max_size=4))
def test_property_exactly_once_under_crashes(tmp_path_factory, n_total, per_part, crash_points):
    out = tmp_path_factory.mktemp("prop") / "vectors"
    for crash_at in [*crash_points, None]:
        w = VectorWriter(out, SETTINGS, records_per_part=per_part, resume=True)
        try:
            for i in range(w.records_done, n_total):
                if i == crash_at:
                    raise _Boom
                w.add(f"d{i}", "", vec(i))
            w.close()
        except _Boom:
            pass
    assert [r["id"] for r in read_parts(out)] == [f"d{i}" for i in range(n_total)]
    assert load_manifest(out)["complete"] is True
    assert all(PART_RE.fullmatch(p.name) for p in out.iterdir())
