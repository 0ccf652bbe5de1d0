"""The package as a user installs it: the built wheel holds the shipped models, imports and encodes
from another directory with the embedded default, and a load prints no library noise."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOISE = ["LOAD REPORT", "UNEXPECTED", "is_gradient_checkpointing", "FutureWarning",
         "may be significantly slower", "Loading weights"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(REPO)], check=True, cwd=out)
    (built,) = out.glob("splare_pyserini-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel unpacked as a site directory (what ``pip install`` puts in site-packages)."""
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def run_from_elsewhere(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}  # before the editable checkout on sys.path
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_wheel_holds_every_shipped_model_file_and_no_tests(wheel):
    shipped = {p.relative_to(REPO).as_posix() for p in (REPO / "splare_pyserini" / "models").rglob("*") if p.is_file()}
    names = set(zipfile.ZipFile(wheel).namelist())
    assert shipped and shipped <= names, sorted(shipped - names)[:5]
    assert not any(n.startswith(("tests/", "eval/", "encode_scripts/")) for n in names)
    assert "splare_pyserini/__main__.py" in names and "splare_pyserini/modeling/model.py" in names


@pytest.fixture(scope="module")
def encoded_from_wheel(installed, tmp_path_factory):
    work = tmp_path_factory.mktemp("elsewhere")
    corpus = work / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n" for i, t in
                              enumerate(["Lenses focus light onto the retina.", "Glaciers carve valleys."])))
    proc = run_from_elsewhere(installed, work, "-m", "splare_pyserini.encode", "--corpus", str(corpus),
                              "--embeddings", str(work / "vectors"))
    return work, proc


def test_encode_runs_from_the_installed_wheel_with_the_embedded_default(installed, encoded_from_wheel):
    work, proc = encoded_from_wheel
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(l) for f in sorted((work / "vectors").glob("*.jsonl")) for l in f.read_text().splitlines()]
    assert [row["id"] for row in lines] == ["d0", "d1"] and all(row["vector"] for row in lines)
    where = run_from_elsewhere(installed, work, "-c", "import splare_pyserini.modeling.model as m; "
                               "print(m.__file__); print(m.default_model_dir())")
    module_file, model_dir = where.stdout.split()
    assert Path(module_file).is_relative_to(installed) and Path(model_dir).is_relative_to(installed)
    listing = run_from_elsewhere(installed, work, "-m", "splare_pyserini", "--help")
    assert listing.returncode == 0 and all(f"  {c} " in listing.stdout for c in ("encode", "search", "train", "explain"))


def test_an_encode_prints_our_lines_and_no_library_noise(encoded_from_wheel):
    _, proc = encoded_from_wheel
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "encoded 2 records" in proc.stderr  # our own INFO line stays
    for message in NOISE:
        assert message not in proc.stderr, f"{message!r} in stderr:\n{proc.stderr[-3000:]}"
