"""The latent labels stored with a model: what each SAE latent responds to on a corpus.

``latents.jsonl`` (one :class:`LatentLabel` per line) and ``latents_info.json`` (corpus, counts,
command) live in the model directory, where :meth:`SplareModel.from_pretrained` finds them
(``model.latent_labels``). They are written by ``python -m splare_pyserini.label_latents``
(:class:`splare_pyserini.interpret.latent_labeler.LatentLabeler` does the counting).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable


LATENT_LABELS_FILE = "latents.jsonl"
LATENT_LABELS_INFO = "latents_info.json"
SPACES = re.compile(r"\s+")  # runs of whitespace, collapsed in token contexts


@dataclass
class LatentLabel:
    """What one latent responds to on the labelling corpus."""

    latent: int
    label: str  # its top tokens, " | "-joined, "[dense N%]" first if always on ("" if it never fired)
    fires: int = 0  # token positions where it was active
    density: float = 0.0  # fires / tokens read
    top_tokens: list[dict] = field(default_factory=list)  # {token, count, max_weight}, by summed weight
    examples: list[dict] = field(default_factory=list)  # {docid, left, token, right, weight}, strongest first


DENSE_DENSITY = 0.2
"""A latent active on at least this share of tokens is labelled as dense: its top tokens are then
just the corpus' most frequent ones (the default SAE has a few that fire on ~all tokens)."""


def label_text(top_tokens: list[dict], density: float) -> str:
    """The short label: the top 3 tokens, ``[dense 97%]``-prefixed for near-always-on latents."""
    tokens = " | ".join(t["token"] for t in top_tokens[:3])
    return f"[dense {density:.0%}] {tokens}" if density >= DENSE_DENSITY else tokens


class LatentLabels:
    """Labels of all latents of one model, as stored in ``latents.jsonl``."""

    def __init__(self, labels: Iterable[LatentLabel], info: dict | None = None) -> None:
        self.by_latent = {label.latent: label for label in labels}
        self.info = info or {}

    def __len__(self) -> int:
        return len(self.by_latent)

    def __getitem__(self, latent: int) -> LatentLabel:
        return self.by_latent[latent]

    def label(self, latent: int) -> str:
        """The short label of ``latent`` ("" if unknown or never active)."""
        entry = self.by_latent.get(latent)
        return entry.label if entry else ""

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``latents.jsonl`` and ``latents_info.json`` atomically into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / LATENT_LABELS_FILE
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            for latent in sorted(self.by_latent):
                handle.write(json.dumps(asdict(self.by_latent[latent]), ensure_ascii=False) + "\n")
        os.replace(tmp, target)
        (folder / LATENT_LABELS_INFO).write_text(json.dumps(self.info, indent=2, ensure_ascii=False) + "\n",
                                                 encoding="utf-8")
        return target

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "LatentLabels | None":
        """The labels stored in ``folder``, or ``None`` if it has none; a bad line names file and line."""
        folder = Path(folder)
        path = folder / LATENT_LABELS_FILE
        if not path.exists():
            return None
        labels = []
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            try:
                labels.append(LatentLabel(**json.loads(line)))
            except (json.JSONDecodeError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: not a latent label line ({exc})") from None
        info_path = folder / LATENT_LABELS_INFO
        info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
        return cls(labels, info)
