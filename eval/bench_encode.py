"""Encode throughput: the full SPLARE encoder vs the bare backbone up to layer l, same run, same texts.

    python -m eval.bench_encode --data ../shared/data/medline --docs 256 [--encoder MODEL] [--out eval/results/encode-speed]

Both passes see the same texts in the same length-sorted batches. "backbone" is the
forward pass up to layer l only; "splare" adds the SAE, pooling, Top-K, quantization and
JSON serialisation. Reported: tokens/s and docs/s of each, and the overhead ratio.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from splare_pyserini.model import SplareModel
from splare_pyserini.readers import read_corpus
from splare_pyserini.sparse_vectors import quantize
from splare_pyserini.vector_writer import vector_line


def batches(texts: list[str], batch_size: int):
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    for start in range(0, len(order), batch_size):
        yield [texts[i] for i in order[start: start + batch_size]]


def time_backbone(model: SplareModel, texts: list[str], batch_size: int) -> tuple[float, int]:
    backbone, tokens = model.backbone, 0
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in batches(texts, batch_size):
            features = backbone.preprocess(batch)
            tokens += int(features["attention_mask"].sum())
            backbone(features)
    return time.perf_counter() - start, tokens


def time_splare(model: SplareModel, texts: list[str], batch_size: int) -> float:
    start = time.perf_counter()
    vectors = model.encode(texts, "document", batch_size=batch_size)
    lines = [vector_line(str(i), t, quantize(v, model.config.quantization_scale)) for i, (t, v) in enumerate(zip(texts, vectors))]
    assert len(lines) == len(texts)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="BEIR folder or corpus file")
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--encoder", default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2, help="alternating backbone/splare passes; the best of each is kept")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    model = SplareModel.from_pretrained(args.encoder)
    texts = []
    for record in read_corpus(args.data):
        texts.append(record.text)
        if len(texts) == args.docs:
            break
    time_backbone(model, texts[: args.batch_size], args.batch_size)  # warm-up
    backbone_s, splare_s, tokens = [], [], 0
    for _ in range(args.repeats):
        seconds, tokens = time_backbone(model, texts, args.batch_size)
        backbone_s.append(seconds)
        splare_s.append(time_splare(model, texts, args.batch_size))
    result = {
        "command": " ".join(["python -m eval.bench_encode", *(argv or sys.argv[1:])]),
        "model": model.name_or_path, "layer": model.backbone.layer, "dtype": model.backbone.torch_dtype,
        "threads": torch.get_num_threads(), "docs": len(texts), "tokens": tokens, "batch_size": args.batch_size,
        "backbone_tokens_per_s": round(tokens / min(backbone_s), 1),
        "splare_tokens_per_s": round(tokens / min(splare_s), 1),
        "splare_docs_per_s": round(len(texts) / min(splare_s), 2),
        "overhead_vs_backbone": round(min(splare_s) / min(backbone_s) - 1, 3),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "encode_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
