"""Label every latent of a SPLARE model from a corpus; the labels land in the model directory.

    python -m splare_pyserini.label_latents --encoder splare_pyserini/models/splare-gemma3-270m \\
        --corpus ../shared/data/scifact/corpus.jsonl --max-docs 2000

``--stop-density D`` also records the latents active on >= D of the tokens as the model's
``stop_latents`` (removed from every vector after Top-K, like stopwords); without ``--corpus``
it reads the densities of the labels already stored.

Reads BEIR/Pyserini JSONL, MS MARCO TSV, folders and ``.gz`` like the encode CLI (first
``--max-docs`` documents of each, in file order), and writes ``latents.jsonl`` + ``latents_info.json``
(see :mod:`splare_pyserini.modeling.latent_labels`) into the model directory or ``--output``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
import shlex
import sys
from pathlib import Path

from splare_pyserini.interpret.latent_labeler import LatentLabeler
from splare_pyserini.modeling.model import SPLARE_CONFIG, SplareModel
from splare_pyserini.io.readers import InputFormatError, read_corpus
from splare_pyserini.interpret.token_activations import iter_token_activations

logger = logging.getLogger("splare_pyserini.label_latents")


def label_latents(model: SplareModel, corpora: list[str], max_docs: int | None = None, batch_size: int = 16,
                  max_length: int | None = None, examples_per_latent: int = 5, context_chars: int = 40,
                  fields: list[str] | None = None, progress: bool = True):
    """Stream ``corpora`` through ``model`` and return its :class:`LatentLabels`."""
    labeler = LatentLabeler(model.sae.d_sae, examples_per_latent=examples_per_latent, context_chars=context_chars)
    records = itertools.chain.from_iterable(itertools.islice(read_corpus(c, fields=fields), max_docs) for c in corpora)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=max_docs * len(corpora) if max_docs else None, desc="label latents", unit="doc")
    while True:
        chunk = list(itertools.islice(records, batch_size * 8))  # bounded: one chunk in memory
        if not chunk:
            break
        texts = [r.text for r in chunk]
        for record, acts in zip(chunk, iter_token_activations(model, texts, batch_size, max_length)):
            labeler.add(record.docid, acts)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    info = {"model": model.name_or_path, "corpora": corpora, "max_docs": max_docs,
            "max_length": max_length or model.backbone.max_seq_length, "examples_per_latent": examples_per_latent,
            "context_chars": context_chars, "weights": "log(1+ReLU(SAE latent)) per token, as pooled"}
    return labeler.labels(info)


def stop_latents(labels, density: float) -> list[int]:
    """Latents active on at least ``density`` of the labelling corpus' tokens."""
    if not 0 < density <= 1:
        raise ValueError(f"stop density must be in (0, 1], got {density}")
    return sorted(label.latent for label in labels.by_latent.values() if label.density >= density)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    inputs = parser.add_argument_group("input")
    inputs.add_argument("--corpus", action="append",
                        help="corpus file or folder; repeatable (without it, --stop-density uses the stored labels)")
    inputs.add_argument("--fields", nargs="+", help="JSON fields joined as the text (default: title + text)")
    inputs.add_argument("--max-docs", type=int, help="read only the first N documents of each corpus")
    encoder = parser.add_argument_group("encoder")
    encoder.add_argument("--encoder", default=None, help="SPLARE model directory or packaged name (default: the embedded default)")
    encoder.add_argument("--batch-size", type=int, default=16)
    encoder.add_argument("--max-length", type=int, help="tokens read per document (default: the model's)")
    encoder.add_argument("--device", default="cpu")
    output = parser.add_argument_group("output")
    output.add_argument("--output", help="folder for latents.jsonl (default: the model directory)")
    output.add_argument("--examples-per-latent", type=int, default=5)
    output.add_argument("--context-chars", type=int, default=40)
    output.add_argument("--stop-density", type=float, metavar="D",
                        help="also write the latents active on >= D of the tokens as the model's stop_latents "
                             "(splare_config.json): removed from every vector, like stopwords")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.max_docs is not None and args.max_docs <= 0:
        parser.error(f"--max-docs must be positive, got {args.max_docs}")
    if args.stop_density is not None and not 0 < args.stop_density <= 1:
        parser.error(f"--stop-density must be in (0, 1], got {args.stop_density}")
    if not args.corpus and args.stop_density is None:
        parser.error("give --corpus to label the latents (and/or --stop-density to set stop latents)")
    model = SplareModel.from_pretrained(args.encoder, device=args.device)
    if args.corpus:
        try:
            labels = label_latents(model, args.corpus, args.max_docs, args.batch_size, args.max_length,
                                   args.examples_per_latent, args.context_chars, args.fields)
        except (InputFormatError, FileNotFoundError) as exc:
            parser.exit(2, f"{parser.prog}: error: {exc}\n")
        labels.info["command"] = shlex.join(["python", "-m", "splare_pyserini.label_latents", *(argv or sys.argv[1:])])
        target = labels.save(Path(args.output or model.name_or_path))
        logger.info("%s: %d latents labelled, %d active on %d documents / %d tokens", target, len(labels),
                    labels.info["active_latents"], labels.info["documents"], labels.info["tokens"])
    else:
        labels = model.latent_labels
        if labels is None:
            parser.error(f"{model.name_or_path}: no latents.jsonl to take densities from; give --corpus")
    if args.stop_density is not None:
        stop = stop_latents(labels, args.stop_density)
        model.config.stop_latents = stop
        config_file = Path(model.name_or_path) / SPLARE_CONFIG
        config_file.write_text(json.dumps(model.config.to_dict(), indent=2) + "\n", encoding="utf-8")
        logger.info("%s: %d stop latents (density >= %g)", config_file, len(stop), args.stop_density)
    return 0
