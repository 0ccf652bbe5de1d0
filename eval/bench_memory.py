"""Peak memory of ``python -m splare_pyserini.encode`` at 1x and 10x a corpus: the encoder streams,
so its peak RSS must stay flat while the corpus grows.

    python -m eval.bench_memory --data ../shared/data/scifact --tiny --out eval/results/memory
    python -m eval.bench_memory --data ../shared/data/medline --encoder default --limit 100 --out eval/results/memory

The corpus (its first ``--limit`` records, if given) is written ``scale`` times into a temporary
JSONL file, ids suffixed ``-r0``, ``-r1``, ..., one record at a time (neither this script nor the
encoder ever holds the corpus). Each scale is encoded by a fresh encoder subprocess; its peak RSS
is the ``ru_maxrss`` that ``wait4`` returns for that child alone (Linux: KiB), and its RSS is also
sampled from ``/proc/PID/status`` for a timeline. Docs/s: the encoder's own figure (reading,
encoding, writing; model loading excluded); also the wall and CPU seconds of the whole
subprocess (CPU seconds do not depend on what else the machine runs).

``--tiny`` encodes with the tests' tiny stand-in model (eval/tiny_model.py), built in a temporary
directory. Each call adds (or replaces) one entry, ``--label``, in ``OUT/results.json`` and
rewrites ``OUT/results.md`` and ``OUT/memory.png`` from every entry there.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from splare_pyserini.io.readers import read_corpus

MIB = 1024 * 1024
ALLOCATOR_ENV = ("MALLOC_", "GLIBC_TUNABLES", "OMP_NUM_THREADS", "LD_PRELOAD")
"""Environment variables that change memory or threads; the encoder inherits them, the recorded command shows them."""


def write_repeated(source: str | Path, dest: Path, repeats: int, limit: int | None = None) -> int:
    """Stream ``repeats`` copies of the corpus (first ``limit`` records) into ``dest``; returns the record count."""
    count = 0
    with open(dest, "w", encoding="utf-8") as out:
        for r in range(repeats):
            for i, record in enumerate(read_corpus(source)):
                if limit is not None and i >= limit:
                    break
                out.write(json.dumps({"id": f"{record.docid}-r{r}", "contents": record.text}, ensure_ascii=False) + "\n")
                count += 1
    return count


def rss_bytes(pid: int) -> int | None:
    """Current resident set size of ``pid`` from /proc (None where there is no /proc or the process is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def run_measured(cmd: list[str], log: Path, interval: float = 0.5) -> dict:
    """Run ``cmd``; its exit code, wall and CPU seconds, peak RSS (``wait4``'s ``ru_maxrss``) and an RSS timeline."""
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    samples = []
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        rss = rss_bytes(proc.pid)
        if rss is not None:
            samples.append((round(time.perf_counter() - start, 2), round(rss / MIB, 1)))
        time.sleep(interval)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return {"returncode": proc.returncode, "wall_s": round(time.perf_counter() - start, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "peak_rss_mib": round(peak / MIB, 1),
            "timeline": thin(samples, 200)}


def thin(samples: list, keep: int) -> list:
    if len(samples) <= keep:
        return samples
    step = len(samples) / keep
    return [samples[int(i * step)] for i in range(keep)] + [samples[-1]]


def late_rss(timeline: list) -> float | None:
    """Largest RSS sampled in the second half of a run (encoding under way; start-up transients excluded)."""
    if len(timeline) < 2:
        return None
    end = timeline[-1][0]
    return max(rss for t, rss in timeline[:-1] if t >= end / 2) if any(t >= end / 2 for t, _ in timeline[:-1]) else None


ENCODED = re.compile(r"encoded (\d+) records into .* in ([\d.]+) s")


def measure_scale(args: argparse.Namespace, encoder: str, scale: int, work: Path) -> dict:
    corpus = work / f"corpus-x{scale}.jsonl"
    docs = write_repeated(args.data, corpus, scale, args.limit)
    out = work / f"vectors-x{scale}"
    cmd = [sys.executable, "-m", "splare_pyserini.encode", "--corpus", str(corpus), "--embeddings", str(out),
           "--encoder", encoder, "--batch-size", str(args.batch_size)]
    if args.max_length:
        cmd += ["--max-length", str(args.max_length)]
    print(f"x{scale}: {docs} docs: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    result = run_measured(cmd, work / f"encode-x{scale}.log")
    log = (work / f"encode-x{scale}.log").read_text(encoding="utf-8", errors="replace")
    if result["returncode"] != 0:
        raise SystemExit(f"encoder failed at x{scale} (exit {result['returncode']}):\n{log[-3000:]}")
    match = ENCODED.search(log)
    encode_s = float(match.group(2)) if match else float("nan")
    lines = sum(1 for part in out.glob("*.jsonl") for _ in open(part, encoding="utf-8"))
    if lines != docs:
        raise SystemExit(f"x{scale}: {lines} output lines for {docs} input records")
    return {"scale": scale, "docs": docs, "corpus_mib": round(corpus.stat().st_size / MIB, 1),
            "peak_rss_mib": result["peak_rss_mib"], "wall_s": result["wall_s"], "cpu_s": result["cpu_s"], "encode_s": encode_s,
            "docs_per_s": round(docs / encode_s, 1) if encode_s else None,
            "docs_per_s_wall": round(docs / result["wall_s"], 1), "timeline": result["timeline"]}


def signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+}"


def render_md(results: dict) -> str:
    lines = ["# Encoder peak memory vs corpus size", "",
             "Peak RSS of one `python -m splare_pyserini.encode` subprocess per row (`wait4` ru_maxrss of that child), "
             "for the same corpus written once and N times (ids suffixed `-r0`, `-r1`, ...) into a temporary file as a stream. "
             "RSS 2nd half: the largest RSS sampled (every 0.5 s) in the second half of the run, while documents are "
             "encoded; the peak itself can be a start-up transient (loading the model and its 262k-token tokenizer). "
             "docs/s is the encoder's own figure (model loading excluded); wall and CPU s are the whole subprocess's, "
             "start-up included.", ""]
    for label, run in results["runs"].items():
        tick = "``" if "`" in run["command"] else "`"
        lines += [f"## {label}", "", f"Command: {tick}{run['command']}{tick}", "",
                  f"Encoder: `{run['encoder']}`; data: `{run['data']}`"
                  + (f" (first {run['limit']} records)" if run.get("limit") else "")
                  + f"; batch size {run['batch_size']}; {run['cpus']} CPUs, torch threads {run['torch_threads']}.", ""]
        if run.get("note"):
            lines += [run["note"], ""]
        lines += [f"Remark added after the run: {remark}\n" for remark in run.get("remarks", [])]
        lines += ["| scale | docs | corpus MiB | peak RSS MiB | RSS 2nd half MiB | encode s | docs/s | wall s | CPU s |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {s['scale']}x | {s['docs']:,} | {s['corpus_mib']} | {s['peak_rss_mib']} | {s.get('late_rss_mib')} | "
                  f"{s['encode_s']} | "
                  f"{s['docs_per_s']} | {s['wall_s']} | {s.get('cpu_s', 'n/a')} |" for s in run["scales"]]
        lines += ["", f"Peak RSS {run['scales'][-1]['scale']}x vs {run['scales'][0]['scale']}x: "
                  f"{run['peak_rss_growth_mib']:+} MiB ({run['peak_rss_ratio']}x); largest RSS in the second half of "
                  f"the run (encoding, start-up excluded): {signed(run.get('late_rss_growth_mib'))} MiB."
                  + ("" if run.get("complete", True) else " Incomplete: the run stopped before its last scale."), ""]
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results["runs"]
    fig, (bars, timeline) = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / max(len(s["scales"]) for s in runs.values())
    for j, scale in enumerate(sorted({s["scale"] for r in runs.values() for s in r["scales"]})):
        xs, ys = [], []
        for i, run in enumerate(runs.values()):
            for s in run["scales"]:
                if s["scale"] == scale:
                    xs.append(i + (j - 0.5) * width)
                    ys.append(s["peak_rss_mib"])
        drawn = bars.bar(xs, ys, width, label=f"{scale}x corpus")
        bars.bar_label(drawn, labels=[f"{y:.0f}" for y in ys], fontsize=7)
    ticks = [label.replace("-fixed-", "\nfixed-") + "\n" + " / ".join(f"{s['docs']:,}" for s in run["scales"]) + " docs"
             for label, run in runs.items()]
    bars.set_xticks(range(len(runs)), ticks, fontsize=7)
    bars.set_ylabel("peak RSS (MiB)")
    bars.set_title("encoder peak RSS", fontsize=10)
    bars.margins(y=0.2)
    bars.legend(fontsize=8, loc="lower right")
    for label, run in runs.items():
        for s in run["scales"]:
            if s["timeline"]:
                t, rss = zip(*s["timeline"])
                timeline.plot([x / t[-1] for x in t], rss, label=f"{label} {s['scale']}x", lw=1)
    timeline.set_xlabel("fraction of the encoder's run (wall time)")
    timeline.set_ylabel("RSS (MiB)")
    timeline.set_title("RSS over the run", fontsize=10)
    timeline.legend(fontsize=7)
    timeline.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="corpus file or BEIR folder")
    parser.add_argument("--encoder", default="default", help="model directory, or 'default' (the embedded model)")
    parser.add_argument("--tiny", action="store_true", help="use the tests' tiny stand-in model instead of --encoder")
    parser.add_argument("--limit", type=int, default=None, help="base corpus: its first N records")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=None)
    parser.add_argument("--label", default=None, help="entry name in results.json (default: model-dataset)")
    parser.add_argument("--note", default="", help="text shown with this entry in results.md")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    import torch

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dataset = Path(args.data).name if Path(args.data).is_dir() else Path(args.data).parent.name
    label = args.label or f"{'tiny' if args.tiny else Path(args.encoder).name}-{dataset}"
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(os.environ.items()) if k.startswith(ALLOCATOR_ENV))
    run = {
        "command": (env + " " if env else "") + "python -m eval.bench_memory "
                   + shlex.join(argv if argv is not None else sys.argv[1:]),
        "encoder": "tiny stand-in (eval/tiny_model.py)" if args.tiny else args.encoder, "data": args.data,
        "limit": args.limit, "batch_size": args.batch_size, "max_length": args.max_length,
        "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "note": args.note, "scales": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        work = Path(tmp)
        encoder = args.encoder
        if args.tiny:
            from .tiny_model import build_tiny_model

            encoder = str(build_tiny_model(work / "tiny"))
        for scale in args.scales:  # results are saved after each scale: a run stopped midway keeps what it measured
            run["scales"].append(measure_scale(args, encoder, scale, work))
            save(out, label, run, complete=len(run["scales"]) == len(args.scales))
    print(json.dumps({label: {k: v for k, v in run.items() if k != "scales"} | {
        "peak_rss_mib": [s["peak_rss_mib"] for s in run["scales"]],
        "docs_per_s": [s["docs_per_s"] for s in run["scales"]]}}, indent=1))
    return 0


def save(out: Path, label: str, run: dict, complete: bool) -> None:
    """Add (or replace) ``label`` in ``out/results.json``; rewrite results.md and memory.png from every entry."""
    first, last = run["scales"][0], run["scales"][-1]
    for scale in run["scales"]:
        scale["late_rss_mib"] = late_rss(scale["timeline"])
    late = None if None in (first["late_rss_mib"], last["late_rss_mib"]) else round(last["late_rss_mib"] - first["late_rss_mib"], 1)
    run.update(complete=complete, late_rss_growth_mib=late,
               peak_rss_growth_mib=round(last["peak_rss_mib"] - first["peak_rss_mib"], 1),
               peak_rss_ratio=round(last["peak_rss_mib"] / first["peak_rss_mib"], 3))
    path = out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    results["runs"][label] = run
    path.write_text(json.dumps(results, indent=1) + "\n")
    (out / "results.md").write_text(render_md(results))
    plot(results, out / "memory.png")


if __name__ == "__main__":
    sys.exit(main())
