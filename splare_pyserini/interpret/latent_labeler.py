"""Name every SAE latent from a corpus: its top-activating tokens, with short contexts.

Streams the corpus once, keeps per latent a bounded heap of its strongest token activations and
a bounded token tally, and returns :class:`~splare_pyserini.modeling.latent_labels.LatentLabels`.
Weights are the ``log(1+ReLU)`` token weights SPLADE pooling takes the max of, so a latent's top
example is the token that gives a document its weight. Same model, corpus and flags: the same labels.
"""
from __future__ import annotations

import heapq

from splare_pyserini.interpret.token_activations import TokenActivations
from splare_pyserini.modeling.latent_labels import SPACES, LatentLabel, LatentLabels, label_text


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
            token = SPACES.sub(" ", acts.text[start:end]).strip()
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
        left = SPACES.sub(" ", text[max(0, start - self.context_chars): start]).lstrip()
        right = SPACES.sub(" ", text[end: end + self.context_chars]).rstrip()
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
