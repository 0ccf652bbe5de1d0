"""Encode throughput: the full SPLARE encoder vs the bare backbone up to layer l, and vs this CPU's roofline.

    python -m eval.bench_encode --data ../shared/data/medline --docs 256 [--encoder MODEL] [--out eval/results/encode-speed]

Both passes see the same texts in the same length-sorted batches. "backbone" is the
forward pass up to layer l only; "splare" adds the SAE, pooling, Top-K, quantization and
JSON serialisation; "batched" is "splare" as it was before it became batch-invariant (one
padded forward and one SAE matmul per batch instead of one per text), and
``batch_invariant_vs_batched`` the speed ratio of the two (1.0: no cost); "split kernels" is
"splare" as it was before it became thread-count-invariant (texts one after another, each kernel
split over the intra-op threads, instead of one text per thread), ``one_text_per_thread_vs_split_kernels``
the speed ratio. Reported: tokens/s and docs/s of each, the overhead ratio, the
roofline (GFLOP/s of a large torch matmul in the model's dtype, measured in the same run,
divided by the FLOPs per token of layers 0..l plus the SAE encoder) and the fraction of it
reached; with ``--variants``, the same encode in float32/bfloat16 x unsorted/length-sorted
batches, as it was before the fused pooling and token-count sorting, with peft's float32
adapter, and with the SAE in bfloat16 (the before/after of the speed work).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import torch

from splare_pyserini.modeling.model import SplareModel
from splare_pyserini.io.readers import read_corpus
from splare_pyserini.modeling.sparse_vectors import quantize, to_sparse_dicts, top_k
from splare_pyserini.io.vector_writer import vector_line


def batches(texts: list[str], batch_size: int, lengths: list[int]):
    """Batches of texts sorted by ``lengths`` (longest first), as :meth:`SplareModel.encode` makes them."""
    order = sorted(range(len(texts)), key=lambda i: lengths[i], reverse=True)
    for start in range(0, len(order), batch_size):
        yield [texts[i] for i in order[start: start + batch_size]]


def time_backbone(model: SplareModel, texts: list[str], batch_size: int) -> tuple[float, int]:
    """The forward pass up to layer l alone, on the batches the encoder makes (sorted by tokens)."""
    backbone, tokens = model.backbone, 0
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in batches(texts, batch_size, backbone.token_lengths(texts)):
            features = backbone.preprocess(batch)
            tokens += int(features["attention_mask"].sum())
            backbone(features)
    return time.perf_counter() - start, tokens


def time_before(model: SplareModel, texts: list[str], batch_size: int) -> float:
    """The encoder as it was before this speed work: batches sorted by characters, SAE latents
    scattered into a padded tokens x d_sae tensor and pooled by sentence-transformers' module."""
    start = time.perf_counter()
    with torch.inference_mode():
        for batch in batches(texts, batch_size, [len(t) for t in texts]):
            pooled = model.encoder.forward(model.backbone.preprocess(batch))["sentence_embedding"]
            for i, vector in enumerate(to_sparse_dicts(top_k(pooled, model.config.doc_top_k))):
                vector_line(str(i), batch[i], quantize(vector, model.config.quantization_scale))
    return time.perf_counter() - start


@contextlib.contextmanager
def batched_forward(model: SplareModel):
    """The encoder as it was before it became batch-invariant: one padded forward per batch and one
    SAE matmul over the batch's kept tokens (faster, but a text's vector depended on its batch)."""
    backbone, sae = model.backbone, model.sae

    def encode_batch(hidden: torch.Tensor, keep: torch.Tensor) -> list[torch.Tensor]:
        latents, counts = sae._encode(hidden[keep]), keep.sum(dim=1).tolist()
        if not latents.is_sparse:
            return list(latents.split(counts))
        rows, values = latents._indices(), latents._values()  # sparse tensors cannot be split: by row range
        bounds = torch.tensor([0, *counts]).cumsum(0).tolist()
        parts = []
        for start, end in zip(bounds, bounds[1:]):
            sel = (rows[0] >= start) & (rows[0] < end)
            index = torch.stack([rows[0][sel] - start, rows[1][sel]])
            parts.append(torch.sparse_coo_tensor(index, values[sel], (end - start, latents.shape[1])))
        return parts

    backbone._run_each, sae.encode_each_text = backbone._run, encode_batch
    try:
        yield
    finally:
        del backbone._run_each, sae.encode_each_text


@contextlib.contextmanager
def split_kernels():
    """The encoder as it was before it became thread-count-invariant: texts one after another, each
    kernel split over torch's intra-op threads (a bf16 matmul then rounds by the split)."""
    from unittest import mock

    with mock.patch("splare_pyserini.modeling.backbone.default_workers", lambda device: 1), \
            mock.patch("splare_pyserini.modeling.sae_latents.default_workers", lambda device: 1), \
            mock.patch("splare_pyserini.modeling.cpu_threads.single_threaded_kernels", contextlib.nullcontext):
        yield


def matmul_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def flops_per_token(model: SplareModel, mean_tokens: float) -> float:
    """2 x weights of layers 0..l (matmuls) + attention scores/values + the SAE encoder matmul."""
    layers = model.backbone.model.layers
    weights = sum(p.numel() for name, p in layers.named_parameters() if p.dim() == 2)
    config = model.backbone.model.config
    attention = 4 * mean_tokens * config.num_attention_heads * config.head_dim * len(layers)
    return 2 * weights + attention + 2 * model.sae.d_in * model.sae.d_sae


def time_splare(model: SplareModel, texts: list[str], batch_size: int, length_sorted: bool = True) -> float:
    start = time.perf_counter()
    if length_sorted:
        vectors = model.encode(texts, "document", batch_size=batch_size)
    else:  # the naive loop: batches in input order
        vectors = [v for i in range(0, len(texts), batch_size)
                   for v in model.encode(texts[i: i + batch_size], "document", batch_size=batch_size)]
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
    parser.add_argument("--variants", action="store_true", help="also time float32/bfloat16 x unsorted/sorted")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    model = SplareModel.from_pretrained(args.encoder)
    texts = []
    for record in read_corpus(args.data):
        texts.append(record.text)
        if len(texts) == args.docs:
            break
    time_backbone(model, texts[: args.batch_size], args.batch_size)  # warm-up
    backbone_s, splare_s, batched_s, split_s, tokens = [], [], [], [], 0
    for _ in range(args.repeats):  # alternating, so that load on the machine hits all three alike
        seconds, tokens = time_backbone(model, texts, args.batch_size)
        backbone_s.append(seconds)
        splare_s.append(time_splare(model, texts, args.batch_size))
        with batched_forward(model):
            batched_s.append(time_splare(model, texts, args.batch_size))
        with split_kernels():
            split_s.append(time_splare(model, texts, args.batch_size))
    result = {
        "command": " ".join(["python -m eval.bench_encode", *(argv or sys.argv[1:])]),
        "model": model.name_or_path, "layer": model.backbone.layer, "dtype": model.backbone.torch_dtype,
        "threads": torch.get_num_threads(), "docs": len(texts), "tokens": tokens, "batch_size": args.batch_size,
        "backbone_tokens_per_s": round(tokens / min(backbone_s), 1),
        "splare_tokens_per_s": round(tokens / min(splare_s), 1),
        "splare_docs_per_s": round(len(texts) / min(splare_s), 2),
        "overhead_vs_backbone": round(min(splare_s) / min(backbone_s) - 1, 3),
        "batched_tokens_per_s": round(tokens / min(batched_s), 1),
        "batch_invariant_vs_batched": round(min(batched_s) / min(splare_s), 3),
        "split_kernels_tokens_per_s": round(tokens / min(split_s), 1),
        "one_text_per_thread_vs_split_kernels": round(min(split_s) / min(splare_s), 3),
    }
    dtype = next(model.backbone.model.parameters()).dtype
    gflops = matmul_gflops(dtype)
    per_token = flops_per_token(model, tokens / len(texts))
    result.update({
        "matmul_gflops": round(gflops, 1), "gflop_per_token": round(per_token / 1e9, 4),
        "roofline_tokens_per_s": round(gflops * 1e9 / per_token, 1),
        "splare_fraction_of_roofline": round(result["splare_tokens_per_s"] / (gflops * 1e9 / per_token), 3),
    })
    if args.variants:
        def rates(seconds: float) -> dict[str, float]:
            return {"tokens_per_s": round(tokens / seconds, 1), "docs_per_s": round(len(texts) / seconds, 2)}

        configured = model.sae.compute_dtype
        model.sae.set_compute_dtype("float32")
        result["variants"] = {"bfloat16, sorted by characters, float32 SAE, padded latents + module pooling (before)":
                              rates(time_before(model, texts, args.batch_size))}
        model.sae.set_compute_dtype(configured)
        for name, torch_dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):  # backbone + adapter
            model.backbone.model.to(torch_dtype)
            for length_sorted in (False, True):
                seconds = time_splare(model, texts, args.batch_size, length_sorted)
                label = f"{name}, {'length-sorted' if length_sorted else 'input order'}"
                result["variants"][label] = rates(seconds)
        # the SAE in float32 and in bfloat16 (its compute_dtype), best of --repeats, alternating
        sae_seconds = {"float32": [], "bfloat16": []}
        for _ in range(args.repeats):
            for sae_dtype, seconds in sae_seconds.items():
                model.sae.set_compute_dtype(sae_dtype)
                seconds.append(time_splare(model, texts, args.batch_size))
        model.sae.set_compute_dtype(configured)
        roofline = gflops * 1e9 / per_token
        for sae_dtype, seconds in sae_seconds.items():
            label = f"bfloat16, length-sorted, {sae_dtype} SAE" + (" (the model's setting)" if sae_dtype == configured else "")
            result["variants"][label] = {**rates(min(seconds)), "fraction_of_roofline": round(tokens / min(seconds) / roofline, 3)}
        if model.backbone.has_adapter():  # before: peft's default, the adapter upcast to float32
            lora = [p for n, p in model.backbone.model.named_parameters() if "lora_" in n]
            for p in lora:
                p.data = p.data.float()
            seconds = time_splare(model, texts, args.batch_size, True)
            result["variants"]["bfloat16, float32 LoRA adapter (peft's upcast), length-sorted"] = rates(seconds)
            for p in lora:
                p.data = p.data.to(torch.bfloat16)
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "encode_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
