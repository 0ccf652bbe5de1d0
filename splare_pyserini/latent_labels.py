"""Name every SAE latent from a corpus: its top-activating tokens, with short contexts.

    python -m splare_pyserini.label_latents --encoder MODEL --corpus ../shared/data/scifact/corpus.jsonl \\
        --max-docs 2000

Streams the corpus once (tqdm), keeps per latent a bounded heap of its strongest token
activations and a bounded token tally, and writes ``latents.jsonl`` (one line per latent) plus
``latents_info.json`` (corpus, counts, command) into the model directory, where
:meth:`SplareModel.from_pretrained` finds them (``model.latent_labels``). Weights are the
``log(1+ReLU)`` token weights SPLADE pooling takes the max of, so a latent's top example is the
token that gives a document its weight. Same model, corpus and flags: byte-identical file.
"""
from __future__ import annotations

import heapq
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from .token_activations import TokenActivations

LATENT_LABELS_FILE = "latents.jsonl"
LATENT_LABELS_INFO = "latents_info.json"
_SPACES = re.compile(r"\s+")


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


class LatentLabeler:
    """Streaming accumulator: feed documents' token activations, then :meth:`labels`.

    Memory is bounded by the latent count: ``examples_per_latent`` heap entries and at most
    ``2 * max_tokens_per_latent`` tallied token strings per latent (the weakest are pruned).
    Ties break on document order then token position, so results do not depend on hashing.
    """

    def __init__(self, d_sae: int, examples_per_latent: int = 5, tokens_per_latent: int = 5,
                 context_chars: int = 40, max_tokens_per_latent: int = 256) -> None:
        self.d_sae = d_sae
        self.examples_per_latent = examples_per_latent
        self.tokens_per_latent = tokens_per_latent
        self.context_chars = context_chars
        self.max_tokens_per_latent = max_tokens_per_latent
        self.fires = [0] * d_sae
        self.tallies: list[dict[str, list[float]]] = [{} for _ in range(d_sae)]  # token -> [count, sum, max]
        self.heaps: list[list[tuple]] = [[] for _ in range(d_sae)]
        self.docs = 0
        self.tokens = 0

    def add(self, docid: str, acts: TokenActivations) -> None:
        order = self.docs
        self.docs += 1
        self.tokens += len(acts.spans)
        positions = (acts.weights > 0).nonzero().tolist()
        values = acts.weights[acts.weights > 0].tolist()  # same row-major order as nonzero()
        for (position, latent), weight in zip(positions, values):
            start, end = acts.spans[position]
            token = _SPACES.sub(" ", acts.text[start:end]).strip()
            self.fires[latent] += 1
            tally = self.tallies[latent].setdefault(token.lower(), [0, 0.0, 0.0])
            tally[0] += 1
            tally[1] += weight
            tally[2] = max(tally[2], weight)
            if len(self.tallies[latent]) > 2 * self.max_tokens_per_latent:
                self._prune(latent)
            heap = self.heaps[latent]
            key = (weight, -order, -position)
            if len(heap) < self.examples_per_latent or key > heap[0][:3]:
                entry = (*key, docid, self._context(acts.text, start, end))
                (heapq.heappush if len(heap) < self.examples_per_latent else heapq.heapreplace)(heap, entry)

    def _ranked_tokens(self, latent: int) -> list[tuple[str, list[float]]]:
        """Tallied tokens by summed weight (ties: alphabetical, so no dependence on hashing)."""
        return sorted(self.tallies[latent].items(), key=lambda kv: (-kv[1][1], kv[0]))

    def _prune(self, latent: int) -> None:
        self.tallies[latent] = dict(self._ranked_tokens(latent)[: self.max_tokens_per_latent])

    def _context(self, text: str, start: int, end: int) -> tuple[str, str, str]:
        left = _SPACES.sub(" ", text[max(0, start - self.context_chars): start]).lstrip()
        right = _SPACES.sub(" ", text[end: end + self.context_chars]).rstrip()
        return left, text[start:end], right

    def labels(self, info: dict | None = None) -> LatentLabels:
        out = []
        for latent in range(self.d_sae):
            top = [{"token": tok, "count": int(c), "max_weight": round(m, 4)}
                   for tok, (c, _, m) in self._ranked_tokens(latent)[: self.tokens_per_latent] if tok]
            examples = [{"docid": docid, "left": left, "token": token, "right": right, "weight": round(w, 4)}
                        for w, _, _, docid, (left, token, right) in sorted(self.heaps[latent], reverse=True)]
            density = round(self.fires[latent] / self.tokens, 6) if self.tokens else 0.0
            out.append(LatentLabel(latent=latent, label=label_text(top, density), fires=self.fires[latent],
                                   density=density, top_tokens=top, examples=examples))
        return LatentLabels(out, {**(info or {}), "documents": self.docs, "tokens": self.tokens,
                                  "active_latents": sum(1 for f in self.fires if f)})
