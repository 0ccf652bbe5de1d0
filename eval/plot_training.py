"""Training curves of a SPLARE run (``train_log.jsonl``): ranking loss, FLOPS terms, active latents, as a PNG.

    python -m eval.plot_training --log runs/train-default/train_log.jsonl --out curves.png
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", required=True, help="train_log.jsonl written by splare_pyserini.train")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in Path(args.log).read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if "base_loss" in r]
    if not rows:
        raise SystemExit(f"{args.log}: no training log entries with loss terms")
    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(steps, [r["base_loss"] for r in rows], marker=".")
    axes[0].set(title="ranking loss (InfoNCE)", xlabel="step")
    for key, label in (("document_regularizer_loss", "FLOPS docs (weighted)"), ("query_regularizer_loss", "FLOPS queries (weighted)")):
        axes[1].plot(steps, [r.get(key, 0.0) for r in rows], marker=".", label=label)
    axes[1].set(title="FLOPS regularizers", xlabel="step")
    axes[1].legend()
    for key, label in (("active_latents_doc", "per document"), ("active_latents_query", "per query")):
        axes[2].plot(steps, [r.get(key, float("nan")) for r in rows], marker=".", label=label)
    axes[2].set(title="active latents after Top-K", xlabel="step")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out} ({len(rows)} log entries)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
