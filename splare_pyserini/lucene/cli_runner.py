"""Pyserini's own CLIs (index, search, fusion) run one after another in one long-lived worker process.

A ``python -m pyserini.search.lucene`` spends ~10 s before it searches anything: importing
``pyserini.search`` pulls in torch, transformers and every encoder Pyserini has (measured: 8.6 s of
imports before a 12-query search that took under a second), and an evaluation of one collection
runs six or seven such commands. :class:`PyseriniWorker` starts one worker that imports and starts
the JVM once, then runs each command as ``python -m`` would (``runpy.run_module(module,
run_name="__main__")`` with its own ``sys.argv``), with its stdout and stderr, Java's included,
sent to the command's log at the file-descriptor level. The commands are still Pyserini's, with
their arguments unchanged; only the start-up is shared. :func:`shared_worker` makes
:func:`splare_pyserini.lucene.pyserini_cli.pyserini` use one for the length of a ``with`` block.

    python -m splare_pyserini.lucene.cli_runner   # the worker: one JSON request per stdin line
"""
from __future__ import annotations

import contextlib
import json
import os
import runpy
import shlex
import subprocess
import sys
import traceback
from pathlib import Path

_current: "PyseriniWorker | None" = None


def current() -> "PyseriniWorker | None":
    """The worker of the enclosing :func:`shared_worker` block, if any."""
    return _current


@contextlib.contextmanager
def shared_worker():
    """Within the block, Pyserini commands run in one worker process (nested blocks share it)."""
    global _current
    if _current is not None:
        yield _current
        return
    _current = PyseriniWorker()
    _current._start()  # its imports overlap with what the caller does before its first command
    try:
        yield _current
    finally:
        _current.close()
        _current = None


class PyseriniWorker:
    """The parent's side: ``run(module, args, log)`` -> the command's exit status, its output in ``log``."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, env=os.environ.copy())
        return self.proc

    def run(self, module: str, args: list[str], log: Path) -> int:
        proc = self._start()
        try:
            proc.stdin.write(json.dumps({"module": module, "args": args, "log": str(log)}) + "\n")
            proc.stdin.flush()
            reply = proc.stdout.readline()
        except BrokenPipeError:
            reply = ""
        if not reply:  # the worker died (a JVM crash, a kill): the next command starts a new one
            proc.wait()
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"\n[the Pyserini worker process died, exit {proc.returncode}]\n")
            return proc.returncode or 1
        return int(json.loads(reply)["rc"])

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def _exit_status(error: SystemExit) -> int:
    if error.code is None:
        return 0
    return error.code if isinstance(error.code, int) else 1


def _run_one(module: str, args: list[str], log: Path) -> int:
    """``python -m module args`` in this process, fds 1 and 2 (Python's and Java's) into ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as handle:
        handle.write(f"$ {shlex.join([sys.executable, '-m', module, *args])}\n")
        handle.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        argv = sys.argv
        try:
            sys.argv = [module, *args]
            runpy.run_module(module, run_name="__main__", alter_sys=True)
            status = 0
        except SystemExit as error:
            status = _exit_status(error)
        except BaseException:  # noqa: BLE001 - reported in the log, as python -m would print it
            traceback.print_exc()
            status = 1
        finally:
            sys.argv = argv
            sys.stdout.flush()
            sys.stderr.flush()
            _flush_java()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
    return status


def _flush_java() -> None:
    try:
        from jnius import autoclass

        system = autoclass("java.lang.System")
        system.out.flush()
        system.err.flush()
    except Exception:  # noqa: BLE001 - no JVM started yet: nothing to flush
        pass


def main() -> int:
    from splare_pyserini.lucene import java_env

    java_env.configure()
    # The control channel, kept apart from the commands: their output goes to their logs, stray output
    # between commands to stderr, and their stdin is empty (Python's exit(), which Pyserini's search
    # calls on an unknown index, closes sys.stdin first).
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for line in requests:
        sys.stdin = open(os.devnull, encoding="utf-8")
        request = json.loads(line)
        status = _run_one(request["module"], request["args"], Path(request["log"]))
        replies.write(json.dumps({"rc": status}) + "\n")
        replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
