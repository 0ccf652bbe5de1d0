"""Assemble a SPLARE model directory from a Hugging Face causal LM and a sae-lens SAE.

    # a local sae-lens directory (e.g. one trained with splare_pyserini.train_sae)
    python -m splare_pyserini.build_model --backbone gguf:gemma3-270m-q4-k-m --layer 9 \\
        --sae-path sae_dir --out my-model
    # a published SAE through sae-lens (needs the hub), e.g. the paper's 2B setting
    python -m splare_pyserini.build_model --backbone google/gemma-2-2b --layer 12 \\
        --sae-release gemma-scope-2b-pt-res-canonical --sae-id layer_12/width_16k/canonical --out splare-2b

The result opens with ``SplareModel.from_pretrained(dir)``, ``SparseEncoder(dir,
trust_remote_code=True)`` and ``python -m splare_pyserini.encode --encoder dir``.
"""
from __future__ import annotations

import argparse
import sys

from splare_pyserini.modeling.model import SplareConfig, SplareModel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--backbone", required=True, help="HF model id or directory, or gguf:gemma3-270m-q4-k-m")
    parser.add_argument("--layer", type=int, required=True, help="read blocks.LAYER.hook_resid_post")
    sae = parser.add_mutually_exclusive_group(required=True)
    sae.add_argument("--sae-path", help="local sae-lens directory (cfg.json + sae_weights.safetensors)")
    sae.add_argument("--sae-release", help="sae-lens release, with --sae-id")
    parser.add_argument("--sae-id")
    parser.add_argument("--query-top-k", type=int, default=40)
    parser.add_argument("--doc-top-k", type=int, default=400)
    parser.add_argument("--quantization-scale", type=float, default=100.0)
    parser.add_argument("--pooling", choices=["max", "sum"], default="max")
    parser.add_argument("--max-seq-length", type=int, default=512)
    parser.add_argument("--torch-dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    parser.add_argument("--sae-compute-dtype", choices=["float32", "bfloat16"], default="float32",
                        help="dtype the SAE encoder runs in at inference (bfloat16: faster, vectors change slightly)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.sae_release and not args.sae_id:
        parser.error("--sae-release needs --sae-id")
    config = SplareConfig(query_top_k=args.query_top_k, doc_top_k=args.doc_top_k,
                          quantization_scale=args.quantization_scale, pooling=args.pooling)
    model = SplareModel.build(args.backbone, args.layer, sae_path=args.sae_path, sae_release=args.sae_release,
                              sae_id=args.sae_id, config=config, max_seq_length=args.max_seq_length,
                              torch_dtype=args.torch_dtype, sae_compute_dtype=args.sae_compute_dtype)
    model.save_pretrained(args.out)
    print(f"saved {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
