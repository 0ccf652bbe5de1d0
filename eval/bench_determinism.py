"""Determinism: do the same documents get the same quantized vectors whatever the batch size?

    python -m eval.bench_determinism --docs 64 --out eval/results/determinism [--data DIR] [--encoder MODEL]

The first ``--docs`` documents of ``--data`` (default: the shared Medline corpus) are encoded with
``SplareModel.encode`` (float weights, Top-K applied; the impacts are ``quantize`` of these, exactly
what ``encode_impacts`` returns) once per ``--batch-sizes`` and a second time at ``--repeat``.
Reported:

- same batch size: whether the two runs are byte-identical (float weights and JSONL lines);
- across batch sizes, for each pair: documents whose quantized vectors differ, impacts that differ
  (a latent missing on one side counts as impact 0), the largest absolute impact difference, and
  each differing impact classified as an off-by-one quantization flip (the latent is in both
  runs' Top-K and its impact moved by 1, e.g. weight 0.12499 vs 0.12501 at scale 100), a Top-K
  membership change (the latent is in one run's Top-K only; split into near-ties at the k-th
  weight and jumps, see :func:`compare`), or another change (in both, by more than 1); plus the
  largest float weight difference among latents both runs kept.

``--float32`` repeats everything with the backbone cast to float32 (the default model runs in
bfloat16), to tell the backbone's rounding apart from the rest.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from splare_pyserini.io.readers import read_corpus
from splare_pyserini.modeling.sparse_vectors import quantize
from splare_pyserini.io.vector_writer import vector_line

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("SPLARE_SHARED", REPO.parent / "shared")) / "data" / "medline"


def compare(a: list[dict[str, float]], b: list[dict[str, float]], scale: float, k: int | None = None) -> dict:
    """How two runs' vectors of the same documents differ (float weights ``a``/``b``, quantized at ``scale``).

    A Top-K membership change is a near-tie when the latent's weight is within the document's
    float noise (its largest weight difference over the latents both runs kept) of the other
    run's smallest kept weight (with ``k`` latents kept there: the Top-K floor, or 0 when fewer
    are active); otherwise its pooled weight jumped by more than the noise (e.g. a token's SAE
    TopK dropped or gained it and max pooling fell back to another token's value).
    """
    docs = impacts = flips = membership = near_ties = other = max_impact = max_near_tie = max_jump = impacts_total = 0
    max_weight = 0.0
    for fa, fb in zip(a, b, strict=True):
        qa, qb = quantize(fa, scale), quantize(fb, scale)
        impacts_total += len(qa)
        both = fa.keys() & fb.keys()
        noise = max((abs(fa[key] - fb[key]) for key in both), default=0.0)
        max_weight = max(max_weight, noise)
        if qa == qb:
            continue
        docs += 1
        for key in qa.keys() | qb.keys():
            diff = abs(qa.get(key, 0) - qb.get(key, 0))
            if not diff:
                continue
            impacts += 1
            max_impact = max(max_impact, diff)
            if key in both:
                flips += diff == 1
                other += diff > 1
                continue
            membership += 1
            weight, rest = (fa[key], fb) if key in fa else (fb[key], fa)
            floor = min(rest.values()) if k is not None and len(rest) >= k else 0.0
            if weight - floor <= noise + 1e-9:
                near_ties += 1
                max_near_tie = max(max_near_tie, diff)
            else:
                max_jump = max(max_jump, diff)
    return {"docs_differing": docs, "impacts_differing": impacts, "impacts_total": impacts_total,
            "max_abs_impact_diff": max_impact, "quantization_flips": flips, "topk_membership_changes": membership,
            "topk_membership_near_ties": near_ties, "max_near_tie_impact": max_near_tie,
            "max_jump_impact": max_jump, "other_changes": other, "max_abs_weight_diff": max_weight}


def identical(a: list[dict[str, float]], b: list[dict[str, float]], scale: float) -> bool:
    """Byte-identical runs: the same float weights, and the same JSONL lines."""
    lines = [[vector_line(str(i), "", quantize(v, scale)) for i, v in enumerate(run)] for run in (a, b)]
    return a == b and lines[0] == lines[1]


def table(section: dict, docs: int) -> list[str]:
    same = ", ".join(f"batch size {bs}: {'yes' if ok else 'no'}" for bs, ok in section["same_batch_size_identical"].items())
    lines = [f"Two runs at the same batch size byte-identical: **{same}**.", "",
             "Across batch sizes (a latent missing on one side counts as impact 0):", "",
             "| batch sizes | docs differing | impacts differing / total | max abs impact diff | off-by-one flips "
             "| Top-K membership changes: near-ties / jumps (largest impact of each) | other | max abs weight diff |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in section["across_batch_sizes"]:
        jumps = row["topk_membership_changes"] - row["topk_membership_near_ties"]
        lines.append(f"| {row['batch_sizes'][0]} vs {row['batch_sizes'][1]} | {row['docs_differing']} / {docs} "
                     f"| {row['impacts_differing']} / {row['impacts_total']} | {row['max_abs_impact_diff']} "
                     f"| {row['quantization_flips']} | {row['topk_membership_changes']}: {row['topk_membership_near_ties']} / "
                     f"{jumps} ({row['max_near_tie_impact']} / {row['max_jump_impact']}) | {row['other_changes']} "
                     f"| {row['max_abs_weight_diff']:.3g} |")
    floor = section["topk_floor"]
    lines += ["", f"Top-K floor (the smallest kept impact of each document whose Top-K is full: {floor['full_docs']} of "
              f"{docs}): median {floor['median']}, range {floor['min']}..{floor['max']}. A near-tie swap at the floor "
              "changes one impact by about that much although no weight moved by more than the max abs weight diff.", "",
              "Encode time per run: " + ", ".join(f"batch size {r['batch_size']}: {r['seconds']} s"
                                                     for r in section["runs"]), ""]
    return lines


def summary(result: dict) -> list[str]:
    lines = []
    for name, section in ((f"{result['dtype']} backbone", result), ("float32 backbone", result.get("float32"))):
        if section is None:
            continue
        same = all(section["same_batch_size_identical"].values())
        worst = max(section["across_batch_sizes"], key=lambda row: row["docs_differing"])
        lines.append(f"- {name}: same batch size byte-identical: {'yes' if same else 'no'}; across batch sizes up to "
                     f"{worst['docs_differing']} of {result['docs']} documents differ ({worst['impacts_differing']} of "
                     f"{worst['impacts_total']} impacts, batch sizes {worst['batch_sizes'][0]} vs {worst['batch_sizes'][1]}).")
    return ["Summary:", "", *lines, ""]


def render_md(result: dict) -> str:
    lines = ["# Determinism across batch sizes", "", f"Command: `{result['command']}`", "",
             f"Model `{result['model']}` ({result['dtype']} backbone, {result['threads']} torch threads, device "
             f"{result['device']}); {result['docs']} documents of `{result['data']}`; document Top-K {result['doc_top_k']}, "
             f"quantization scale {result['quantization_scale']}. Vectors from `SplareModel.encode` (length-sorted batches), "
             "impacts = `quantize` of them (what `encode_impacts` returns).", "",
             *summary(result), f"## {result['dtype']} backbone (as shipped)", "", *table(result, result["docs"])]
    if "float32" in result:
        lines += ["## float32 backbone (`--float32`)", "", *table(result["float32"], result["docs"])]
    lines += ["Top-K membership changes: a near-tie is a latent whose weight is within the document's float noise "
              "(its max abs weight diff) of the other run's Top-K floor; a jump is one whose pooled weight moved by "
              "more than that (e.g. a token's SAE TopK dropped or gained it and max pooling fell back to another "
              "token's value). Other: a latent both runs kept whose impact moved by more than 1.", ""]
    return "\n".join(lines)


def measure(model, texts: list[str], batch_sizes: list[int], repeat: int) -> dict:
    """Encode ``texts`` at each batch size and again at ``repeat``; compare the runs."""
    scale, k = model.config.quantization_scale, model.config.doc_top_k
    model.encode(texts[:2], "document", batch_size=2)  # warm-up: the first forward pass is slow
    runs, vectors = [], {}
    for batch_size in [*batch_sizes, repeat]:
        start = time.perf_counter()
        encoded = model.encode(texts, "document", batch_size=batch_size)
        runs.append({"batch_size": batch_size, "seconds": round(time.perf_counter() - start, 2)})
        print(f"batch size {batch_size}: {runs[-1]['seconds']} s", file=sys.stderr, flush=True)
        vectors.setdefault(batch_size, []).append(encoded)
    sizes = sorted(set(batch_sizes))
    first = vectors[batch_sizes[0]][0]
    floors = sorted(min(quantize(v, scale).values()) for v in first if k is not None and len(v) >= k and quantize(v, scale))
    return {
        "runs": runs,
        "topk_floor": {"full_docs": len(floors), "min": floors[0] if floors else None,
                       "median": floors[len(floors) // 2] if floors else None, "max": floors[-1] if floors else None},
        "same_batch_size_identical": {str(repeat): identical(*vectors[repeat][:2], scale)},
        "same_batch_size": {str(repeat): compare(*vectors[repeat][:2], scale, k)},
        "across_batch_sizes": [{"batch_sizes": [a, b], **compare(vectors[a][0], vectors[b][0], scale, k)}
                               for i, a in enumerate(sizes) for b in sizes[i + 1:]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="corpus file or BEIR folder (default: shared Medline)")
    parser.add_argument("--docs", type=int, default=64)
    parser.add_argument("--encoder", default="default", help="model directory, or 'default' (the embedded model)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeat", type=int, default=8, help="batch size encoded a second time")
    parser.add_argument("--float32", action="store_true", help="also measure with the backbone cast to float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    import torch

    from splare_pyserini.modeling.model import SplareModel

    model = SplareModel.from_pretrained(args.encoder, device=args.device)
    texts = []
    for record in read_corpus(args.data):
        texts.append(record.text)
        if len(texts) == args.docs:
            break
    result = {
        "command": "python -m eval.bench_determinism " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "model": str(model.name_or_path), "dtype": str(next(model.backbone.model.parameters()).dtype).removeprefix("torch."),
        "threads": torch.get_num_threads(), "device": args.device, "data": args.data, "docs": len(texts),
        "doc_top_k": model.config.doc_top_k, "quantization_scale": model.config.quantization_scale,
        **measure(model, texts, args.batch_sizes, args.repeat),
    }
    if args.float32:
        model.backbone.model.to(torch.float32)
        result["float32"] = measure(model, texts, args.batch_sizes, args.repeat)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "results.md").write_text(render_md(result))
    print(render_md(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
