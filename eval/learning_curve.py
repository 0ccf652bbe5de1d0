"""Dev scores of every checkpoint of a training run: the learning curve of a long run (issue 16, part 4).

    python -m eval.learning_curve --run runs/v2 --dev runs/v2-dev/dev --out eval/results/v2-run

Each ``checkpoint-N`` (and the final ``model``) of ``--run`` not scored yet is scored with
``eval.beir`` on the dev set (Lucene impact search, exact: the numbers of the short runs' tables);
the base model (step 0, with Pyserini BM25 beside it) is scored once. One JSON per step is kept
under ``OUT/steps/`` (commit it: a lost machine loses no point), then ``OUT/curve.md`` and
``OUT/curve.png`` are written from all of them, and the run's training log is kept under
``OUT/logs/`` (merged with the kept one: a run resumed on a new machine logs only its own steps).
With ``--keep-best DIR`` the best checkpoint by dev nDCG@10 so far is kept there as a light copy
(``keep_light_checkpoint``: float16 adapter, no optimizer state, no frozen SAE) with ``best.json``
naming its step: the model to ship outlives ``save_total_limit`` and a lost machine.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

METRICS = ["ndcg_cut_10", "recall_100", "recip_rank_10"]


def checkpoints(run: Path) -> list[tuple[int, Path]]:
    """(step, folder) of the run's complete checkpoints and of its final model, by step."""
    found = []
    for folder in run.glob("checkpoint-*"):
        match = re.fullmatch(r"checkpoint-(\d+)", folder.name)
        if match and (folder / "trainer_state.json").exists() and (folder / "splare_config.json").exists():
            found.append((int(match.group(1)), folder))
    summary = run / "train_summary.json"
    if (run / "model" / "splare_config.json").exists() and summary.exists():
        found.append((json.loads(summary.read_text(encoding="utf-8"))["global_step"], run / "model"))
    return sorted(dict(found).items())


def score(model: Path | str, dev: Path, work: Path, with_bm25: bool) -> dict:
    """eval.beir's rows for one model on the dev set; a dev set of language sub-folders gives the
    mean over its languages (macro average), each language's nDCG@10 kept under ``by_dataset``."""
    command = [sys.executable, "-m", "eval.beir", "--data", str(dev), "--encoder", str(model), "--out", str(work)]
    if not with_bm25:
        command.append("--no-bm25")
    if not (work / "results.json").exists():
        subprocess.run(command, check=True)
    datasets = json.loads((work / "results.json").read_text(encoding="utf-8"))
    rows = {system: {m: round(sum(d[system][m] for d in datasets.values()) / len(datasets), 4) for m in METRICS}
            for system in next(iter(datasets.values())) if all(system in d for d in datasets.values())}
    if len(datasets) > 1:
        rows["by_dataset"] = {name.rsplit("/", 1)[-1]: {system: d[system]["ndcg_cut_10"] for system in d}
                              for name, d in datasets.items()}
    return rows


def merged_train_log(run: Path, kept: Path) -> list[dict]:
    """The run's ``train_log.jsonl`` after the kept copy's entries of earlier steps: a run restored
    on a new machine logs only the steps it trained, the kept copy (committed) has the others."""
    def read(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []

    current, earlier = read(run / "train_log.jsonl"), read(kept)
    first = min((e["step"] for e in current), default=None)
    merged = [e for e in earlier if first is None or e["step"] < first] + current
    if merged:
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text("".join(json.dumps(e) + "\n" for e in merged), encoding="utf-8")
    return merged


def training_costs(log: list[dict], per_step: int) -> dict | None:
    """CPU hours, wall hours, training queries/s and peak RSS of the logged training, summed over
    its processes (a resumed session is a new process: its CPU-seconds counter starts again)."""
    timed = [e for e in log if "cpu_seconds" in e and "time" in e]
    if len(timed) < 2:
        return None
    cpu = wall = steps = 0.0
    for before, after in zip(timed, timed[1:]):
        if after["cpu_seconds"] >= before["cpu_seconds"] and after["step"] > before["step"]:  # same process
            cpu += after["cpu_seconds"] - before["cpu_seconds"]
            wall += after["time"] - before["time"]
            steps += after["step"] - before["step"]
    return {"cpu_hours": round(cpu / 3600, 2), "wall_hours": round(wall / 3600, 2), "steps_timed": int(steps),
            "queries_per_second": round(steps * per_step / wall, 3) if wall else None,
            "peak_rss_gb": max(e.get("peak_rss_gb", 0) for e in timed)}


def keep_best(points: list[dict], folders: dict[int, Path], kept: Path) -> None:
    """Keep the best trained checkpoint by dev nDCG@10 (the earliest of a tie) in ``kept``, unless it
    is kept there already; a best whose folder is gone (deleted, or on a lost machine) leaves
    ``kept`` as it is, with a warning."""
    from splare_pyserini.training.checkpoints import keep_light_checkpoint

    best = max((p for p in points if p["step"] > 0), key=lambda p: (p["ndcg_cut_10"], -p["step"]), default=None)
    record = kept / "best.json"
    held = json.loads(record.read_text(encoding="utf-8"))["step"] if record.exists() else None
    if best is None or best["step"] == held:
        return
    if best["step"] not in folders:
        print(f"best checkpoint, step {best['step']}, is gone from the run: {kept} keeps step {held}", file=sys.stderr)
        return
    keep_light_checkpoint(folders[best["step"]], kept)
    (kept / "best.json").write_text(json.dumps({"step": best["step"], "ndcg_cut_10": best["ndcg_cut_10"]}) + "\n",
                                    encoding="utf-8")
    print(f"kept step {best['step']} ({best['ndcg_cut_10']:.4f}) in {kept}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="the training run's output_dir")
    parser.add_argument("--dev", required=True, help="the dev set (BEIR layout; never a test split)")
    parser.add_argument("--out", required=True, help="results folder (steps/*.json, curve.md, curve.png)")
    parser.add_argument("--base", default="splare-gemma3-270m-zeroshot", help="the model the run started from (step 0)")
    parser.add_argument("--examples-per-step", type=int, default=16)
    parser.add_argument("--work", help="where eval.beir's run folders go (default: RUN/dev-scores)")
    parser.add_argument("--every", type=int, default=1, help="score only checkpoints whose step is a multiple")
    parser.add_argument("--title", default="held-out SQuAD articles", help="what the dev set is, for the report")
    parser.add_argument("--keep-best", help="keep the best checkpoint by dev nDCG@10 here (a light copy; commit it)")
    args = parser.parse_args(argv)
    run, dev, out = Path(args.run), Path(args.dev), Path(args.out)
    steps_dir = out / "steps"
    steps_dir.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else run / "dev-scores"
    todo = [(0, args.base)] + [(step, folder) for step, folder in checkpoints(run)
                               if step % args.every == 0 or folder.name == "model"]
    for step, model in todo:
        target = steps_dir / f"step-{step:05d}.json"
        if target.exists():
            continue
        rows = score(model, dev, work / f"step-{step}", with_bm25=step == 0)
        point = {"step": step, "model": str(model), **{m: rows["splare"][m] for m in METRICS}}
        if "bm25-flat" in rows:
            point["bm25"] = {m: rows["bm25-flat"][m] for m in METRICS}
        if "by_dataset" in rows:
            point["ndcg_cut_10_by_dataset"] = rows["by_dataset"]
        target.write_text(json.dumps(point, indent=2) + "\n", encoding="utf-8")
        print(f"step {step}: nDCG@10 {point['ndcg_cut_10']:.4f}", flush=True)
    points = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(steps_dir.glob("step-*.json"))]
    if args.keep_best:
        keep_best(points, dict(checkpoints(run)), Path(args.keep_best))
    log = merged_train_log(run, out / "logs" / "train_log.jsonl")
    for name in ("train_config.yaml", "train_summary.json"):
        if (run / name).exists():
            (out / "logs" / name).write_bytes((run / name).read_bytes())
    losses = {e["step"]: e["loss"] for e in log if "loss" in e}
    write_report(points, losses, training_costs(log, args.examples_per_step), out, args.examples_per_step, args.title,
                 " ".join(["python -m eval.learning_curve", *(argv or sys.argv[1:])]))
    return 0


def write_report(points: list[dict], losses: dict[int, float], costs: dict | None, out: Path, per_step: int, title: str,
                 command: str) -> None:
    bm25 = next((p["bm25"] for p in points if "bm25" in p), None)
    best = max((p for p in points if p["step"] > 0), key=lambda p: p["ndcg_cut_10"], default=None)
    lines = ["# Learning curve: dev scores of every checkpoint", "",
             f"Command: `{command}`; dev = {title} (never a test set); step 0 = the base model.", "",
             "| step | training queries | " + " | ".join(METRICS) + " |", "| ---: | ---: |" + " ---: |" * len(METRICS)]
    lines += [f"| {p['step']} | {p['step'] * per_step:,} | " + " | ".join(f"{p[m]:.4f}" for m in METRICS) + " |" for p in points]
    if bm25:
        lines.append("| Pyserini BM25 flat (same dev) | | " + " | ".join(f"{bm25[m]:.4f}" for m in METRICS) + " |")
    if best:
        lines += ["", f"Best checkpoint by dev nDCG@10: step {best['step']} ({best['ndcg_cut_10']:.4f})."]
    if costs:
        lines += ["", f"Training so far (from the log, every session summed; dev scoring not included): "
                      f"{costs['cpu_hours']} CPU hours, {costs['wall_hours']} wall hours over {costs['steps_timed']} "
                      f"timed steps, {costs['queries_per_second']} training queries/s, peak RSS {costs['peak_rss_gb']} GB."]
    (out / "curve.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "curve.json").write_text(json.dumps({"command": command, "points": points, "training": costs}, indent=2) + "\n",
                                    encoding="utf-8")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    queries = [p["step"] * per_step for p in points]
    axes[0].plot(queries, [p["ndcg_cut_10"] for p in points], marker="o", label="SPLARE (dev)")
    if bm25:
        axes[0].axhline(bm25["ndcg_cut_10"], color="gray", linestyle="--", label="BM25 (dev)")
    axes[0].set(title="dev nDCG@10 by checkpoint", xlabel="training queries seen", ylabel="nDCG@10")
    axes[0].legend()
    if losses:
        axes[1].plot([s * per_step for s in losses], list(losses.values()), linewidth=0.8)
    axes[1].set(title="training loss", xlabel="training queries seen")
    fig.tight_layout()
    fig.savefig(out / "curve.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
