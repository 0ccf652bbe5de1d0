"""What the test corpora's text in the SAE buys: two zero-shot models, one table (issue 16).

    python -m eval.sae_test_text --shipped RUN_A [RUN_A2 ...] --ablation RUN_B [...] --sae-log B/training_log.json --out DIR

``RUN_A`` and ``RUN_B`` are ``eval.beir`` run folders (several each: their datasets merged) of the
same datasets: the shipped zero-shot
model (its SAE trained on SQuAD paragraphs and the SciFact/Medline/Cranfield corpora) and its twin
whose SAE read training text only (``encode_scripts/sae_test_text_ablation.sh``). Writes
``results.md``, ``results.json`` and ``sae_test_text.png``: nDCG@10 and R@100 per dataset for both
(and BM25 from ``RUN_A``), the difference, and both SAEs' explained variance and dead latents.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eval.plotting import figure, save
from eval.run_results import read_runs

SHIPPED_SAE_LOG = Path(__file__).resolve().parents[1] / "splare_pyserini/models/splare-gemma3-270m-zeroshot/training/sae_training_log.json"
METRICS = ("ndcg_cut_10", "recall_100")
SAE_FIELDS = ("train_tokens", "explained_variance", "explained_variance_without_massive_dims", "latents_never_fired_on_eval")


def compare(shipped: dict, ablation: dict) -> list[dict]:
    """One row per dataset scored in both runs."""
    rows = []
    for dataset in shipped:
        if dataset not in ablation:
            continue
        a, b = shipped[dataset]["splare"], ablation[dataset]["splare"]
        row = {"dataset": dataset, **{f"shipped_{m}": a[m] for m in METRICS}, **{f"no_test_text_{m}": b[m] for m in METRICS},
               "delta_ndcg_cut_10": round(b["ndcg_cut_10"] - a["ndcg_cut_10"], 4)}
        if "bm25-flat" in shipped[dataset]:
            row["bm25_ndcg_cut_10"] = shipped[dataset]["bm25-flat"]["ndcg_cut_10"]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shipped", nargs="+", required=True, help="eval.beir run folders of the shipped zero-shot model")
    parser.add_argument("--ablation", nargs="+", required=True,
                        help="eval.beir run folders of the model whose SAE saw no test text")
    parser.add_argument("--sae-log", required=True, help="the ablation SAE's training_log.json")
    parser.add_argument("--shipped-sae-log", default=str(SHIPPED_SAE_LOG))
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = compare(read_runs(args.shipped), read_runs(args.ablation))
    if not rows:
        raise SystemExit(f"{args.shipped} and {args.ablation} share no dataset")
    saes = {name: {k: json.loads(Path(path).read_text(encoding="utf-8")).get(k) for k in SAE_FIELDS}
            for name, path in (("shipped", args.shipped_sae_log), ("no_test_text", args.sae_log))}
    command = " ".join(["python -m eval.sae_test_text", *(argv if argv is not None else sys.argv[1:])])
    (out / "results.json").write_text(json.dumps({"command": command, "rows": rows, "saes": saes}, indent=2) + "\n",
                                      encoding="utf-8")
    lines = [f"Command: `{command}`", "",
             "| dataset | shipped SAE (saw the test corpora) | SAE of training text only | difference | BM25 |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['dataset']} | {r['shipped_ndcg_cut_10']:.4f} / {r['shipped_recall_100']:.4f} | "
              f"{r['no_test_text_ndcg_cut_10']:.4f} / {r['no_test_text_recall_100']:.4f} | {r['delta_ndcg_cut_10']:+.4f} | "
              f"{r.get('bm25_ndcg_cut_10', float('nan')):.4f} |" for r in rows]
    lines += ["", "nDCG@10 / R@100, zero-shot (SAE, no LoRA); difference in nDCG@10.", "",
              "| SAE | " + " | ".join(SAE_FIELDS) + " |", "|---|" + "---:|" * len(SAE_FIELDS)]
    lines += [f"| {name} | " + " | ".join(str(v) for v in sae.values()) + " |" for name, sae in saes.items()]
    (out / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    fig, ax = figure()
    positions = range(len(rows))
    ax.bar([p - 0.2 for p in positions], [r["shipped_ndcg_cut_10"] for r in rows], width=0.4, label="shipped SAE (saw test text)")
    ax.bar([p + 0.2 for p in positions], [r["no_test_text_ndcg_cut_10"] for r in rows], width=0.4, label="SAE of training text only")
    ax.set_xticks(list(positions), [r["dataset"] for r in rows])
    save(fig, ax, out / "sae_test_text.png", "dataset", "nDCG@10 (zero-shot)", "What the test corpora's text in the SAE buys")
    return 0


if __name__ == "__main__":
    sys.exit(main())
