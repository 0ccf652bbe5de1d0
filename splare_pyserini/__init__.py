"""SPLARE for Pyserini: learned sparse retrieval over the latents of a frozen sparse autoencoder.

The public API, imported lazily (``import splare_pyserini`` loads neither torch nor Java)::

    from splare_pyserini import SplareModel, SplareQueryEncoder, SplareImpactSearcher

Layout: ``modeling/`` (the model), ``io/`` (readers, the JsonVectorCollection writer),
``encoding/`` (the encode job), ``lucene/`` (Pyserini/Anserini), ``backends/`` (Seismic),
``training/``, ``interpret/``; the commands (``python -m splare_pyserini --help`` lists them) sit at
the top and only parse arguments. ``docs/architecture.md`` has the whole data path.
"""
from __future__ import annotations

import importlib

from splare_pyserini.modeling import legacy_paths

legacy_paths.install()  # model directories saved by 0.1 name their modules by the old flat paths

_PUBLIC = {
    "SplareModel": "splare_pyserini.modeling.model",
    "SplareConfig": "splare_pyserini.modeling.model",
    "LatentLabels": "splare_pyserini.modeling.latent_labels",
    "SplareQueryEncoder": "splare_pyserini.lucene.query_encoders",
    "SplareHybridQueryEncoder": "splare_pyserini.lucene.query_encoders",
    "SplareImpactSearcher": "splare_pyserini.lucene.impact_searcher",
    "SeismicConfig": "splare_pyserini.backends.seismic",
    "SeismicSearcher": "splare_pyserini.backends.seismic",
    "encode_corpus": "splare_pyserini.encoding.jobs",
    "encode_topics": "splare_pyserini.encoding.jobs",
    "TrainConfig": "splare_pyserini.training.config",
    "SAETrainingConfig": "splare_pyserini.training.sae",
    "explain_hit": "splare_pyserini.interpret.explanations",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'splare_pyserini' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
