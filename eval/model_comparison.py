"""Several SPLARE models on the same collections, one table: nDCG@10, and each difference with its paired s.e.

    python -m eval.model_comparison --run v2=runs/v2-test/v2 --run default=runs/v2-test/default \\
        --reference v2 --out eval/results/v2-test

Each ``--run NAME=FOLDER`` is an ``eval.beir`` run folder (of one model: its ``splare`` row is
called NAME here; its hybrid rows ``NAME hybrid-index``...). Baselines (``bm25-flat``,
``splade-tiny``) come from the first folder that has them. For the ``--reference`` model's SPLARE
row, every other SPLARE-like row of the same dataset gets a difference in nDCG@10 with the
paired standard error over the judged queries (per-query pytrec_eval scores from the run files),
so a reader sees which differences the queries can tell apart. Writes ``results.md``,
``results.json`` and ``model_comparison.png``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eval.plotting import figure, save
from eval.run_results import paired_difference, per_query, qrels_file, read_runs, run_file

BASELINES = ("bm25-flat", "splade-tiny")
METRIC = "ndcg_cut_10"


def named_folder(text: str) -> tuple[str, Path]:
    """``NAME=FOLDER`` of ``--run``."""
    name, sep, folder = text.partition("=")
    if not sep or not name or not folder:
        raise argparse.ArgumentTypeError(f"--run wants NAME=FOLDER, got {text!r}")
    return name, Path(folder)


def row_name(model: str, system: str) -> str:
    """A model's SPLARE row is its name; its other rows are prefixed with it; baselines keep theirs."""
    if system in BASELINES:
        return system
    return model if system == "splare" else f"{model} {system}"


def collect(runs: list[tuple[str, Path]]) -> dict[str, dict[str, dict]]:
    """``{dataset: {row: {"metrics": ..., "run": run file, "qrels": qrels file}}}`` over every run folder."""
    table: dict[str, dict[str, dict]] = {}
    for model, folder in runs:
        for dataset, systems in read_runs([folder]).items():
            rows = table.setdefault(dataset, {})
            for system, metrics in systems.items():
                name = row_name(model, system)
                if name not in rows:  # a baseline scored by two folders: the first one's
                    rows[name] = {"metrics": metrics, "run": run_file(folder, dataset, system),
                                  "qrels": qrels_file(folder, dataset)}
    return table


def differences(table: dict[str, dict[str, dict]], reference: str) -> dict[str, dict[str, dict]]:
    """``{dataset: {row: paired nDCG@10 difference of reference minus row}}`` where both run files exist."""
    out: dict[str, dict[str, dict]] = {}
    for dataset, rows in table.items():
        ref = rows.get(reference)
        if ref is None or not ref["run"].exists():
            continue
        ref_scores = per_query(ref["qrels"], ref["run"], METRIC)
        for name, row in rows.items():
            if name != reference and row["run"].exists():
                diff = paired_difference(ref_scores, per_query(ref["qrels"], row["run"], METRIC))
                out.setdefault(dataset, {})[name] = {k: round(v, 4) for k, v in diff.items()}
    return out


def markdown(table: dict, diffs: dict, reference: str, command: str) -> str:
    names = list(dict.fromkeys(name for rows in table.values() for name in rows))
    lines = [f"Command: `{command}`", "", f"nDCG@10; in brackets, {reference} minus the row, +- its paired standard error "
             "over the judged queries.", "", "| dataset | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for dataset, rows in table.items():
        cells = []
        for name in names:
            if name not in rows:
                cells.append("")
                continue
            cell = f"{rows[name]['metrics'][METRIC]:.4f}"
            diff = diffs.get(dataset, {}).get(name)
            if diff:
                cell += f" ({diff['difference']:+.4f} +- {diff['standard_error']:.4f})"
            cells.append(cell)
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(table: dict, path: Path, rows_shown: list[str]) -> None:
    fig, ax = figure()
    datasets = list(table)
    width = 0.8 / max(len(rows_shown), 1)
    for i, name in enumerate(rows_shown):
        xs = [d + (i - (len(rows_shown) - 1) / 2) * width for d in range(len(datasets))]
        ys = [table[dataset].get(name, {}).get("metrics", {}).get(METRIC, 0.0) for dataset in datasets]
        ax.bar(xs, ys, width=width, label=name)
    ax.set_xticks(list(range(len(datasets))), datasets)
    save(fig, ax, path, "dataset", "nDCG@10", "SPLARE models beside BM25 and SPLADE-tiny")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=named_folder, action="append", required=True, metavar="NAME=FOLDER",
                        help="an eval.beir run folder of one model; repeat")
    parser.add_argument("--reference", help="the model every other row is compared with (default: the first --run)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    reference = args.reference or args.run[0][0]
    if reference not in {name for name, _ in args.run}:
        parser.error(f"--reference {reference!r} is none of the --run names {[name for name, _ in args.run]}")
    table = collect(args.run)
    if not table:
        raise SystemExit(f"{[str(f) for _, f in args.run]}: no dataset scored")
    diffs = differences(table, reference)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python -m eval.model_comparison", *(argv if argv is not None else sys.argv[1:])])
    results = {"command": command, "reference": reference, "metric": METRIC,
               "scores": {d: {n: r["metrics"] for n, r in rows.items()} for d, rows in table.items()},
               "differences": diffs}
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    report = markdown(table, diffs, reference, command)
    (out / "results.md").write_text(report, encoding="utf-8")
    print(report)
    shown = [name for name, _ in args.run] + [b for b in BASELINES if any(b in rows for rows in table.values())]
    plot(table, out / "model_comparison.png", shown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
