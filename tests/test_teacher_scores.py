"""splare_pyserini.teacher_scores: teacher names and z-score fusion of several teachers."""
import argparse
import statistics

import pytest

from splare_pyserini.training import teachers as teacher_scores


def test_teacher_names_parse_to_one_teacher_or_a_fusion():
    assert teacher_scores.parse_teacher("bm25") == ["bm25"]
    assert teacher_scores.parse_teacher("bm25+splade-tiny") == ["bm25", "splade-tiny"]
    assert teacher_scores.parse_teacher("fusion") == ["bm25", "dense"]  # the name older scripts use
    for bad in ("bm26", "bm25+bm25", "bm25+"):
        with pytest.raises(argparse.ArgumentTypeError, match="bm25, dense, splade-tiny"):
            teacher_scores.parse_teacher(bad)


def test_a_fusion_is_the_mean_of_each_teachers_z_scores(monkeypatch, tmp_path):
    items = [("q", f"d{i}", "query", f"doc {i}") for i in range(4)]
    monkeypatch.setitem(teacher_scores.TEACHERS, "bm25", lambda items, work: [10.0, 20.0, 30.0, 60.0])
    monkeypatch.setitem(teacher_scores.TEACHERS, "splade-tiny", lambda items, work: [4.0, 1.0, 1.0, 2.0])
    fused = teacher_scores.teacher_scores(items, ["bm25", "splade-tiny"], tmp_path)
    a, b = teacher_scores.zscore([10.0, 20.0, 30.0, 60.0]), teacher_scores.zscore([4.0, 1.0, 1.0, 2.0])
    assert fused == pytest.approx([(x + y) / 2 for x, y in zip(a, b)])
    assert statistics.fmean(a) == pytest.approx(0) and statistics.pstdev(a) == pytest.approx(1)
    assert teacher_scores.teacher_scores(items, ["bm25"], tmp_path) == [10.0, 20.0, 30.0, 60.0]  # alone: raw
