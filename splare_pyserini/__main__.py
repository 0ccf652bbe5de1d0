"""``python -m splare_pyserini``: the commands, one line each; ``python -m splare_pyserini CMD ...`` runs one."""
from __future__ import annotations

import ast
import runpy
import sys
from pathlib import Path

COMMANDS = ["encode", "search", "seismic", "explain", "label_latents", "build_model", "train", "train_sae",
            "teacher_scores", "java_env"]


def summary(command: str) -> str:
    """The first line of a command's docstring, read without importing it (no torch, no Java)."""
    source = (Path(__file__).parent / f"{command}.py").read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(source)) or ""
    line = doc.split("\n", 1)[0]
    line = line.split(": ", 1)[1] if line.startswith("``python -m") and ": " in line else line
    line = line.replace("``", "").rstrip(".")
    return line[:1].lower() + line[1:]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        sys.argv = [f"python -m splare_pyserini.{argv[0]}", *argv[1:]]
        runpy.run_module(f"splare_pyserini.{argv[0]}", run_name="__main__", alter_sys=True)
        return 0
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m splare_pyserini.COMMAND [--help] ...  (or python -m splare_pyserini COMMAND ...)",
             "", "SPLARE for Pyserini: learned sparse retrieval over sparse-autoencoder latents.", "", "commands:"]
    lines += [f"  {c:<{width}}  {summary(c)}" for c in COMMANDS]
    print("\n".join(lines))
    if argv and argv[0] not in ("-h", "--help"):
        print(f"\nunknown command {argv[0]!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
