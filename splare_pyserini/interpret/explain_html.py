"""A self-contained HTML page for an :class:`~splare_pyserini.interpret.explanations.Explanation`.

No script, no external asset: the query's latents, the document text with each token shaded
by how much it carries the shared latents (sum over shared latents of ``q_w x`` the token's
weight for that latent, min-max scaled over the text; hover a token for its latents), and
the contribution bar chart.
"""
from __future__ import annotations

import html
from pathlib import Path

from splare_pyserini.interpret.explanations import Explanation
from splare_pyserini.modeling.model import SplareModel
from splare_pyserini.modeling.sparse_vectors import latent_name
from splare_pyserini.interpret.token_activations import token_activations

STYLE = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:960px;margin:24px auto;padding:0 20px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px;color:#394150}
.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:14px 18px;margin:12px 0}
.query{font-size:18px;font-weight:600}
.meta{color:#5b6475;font-size:13px}
.ok{color:#13795b;font-weight:600} .bad{color:#b42318;font-weight:600}
.chip{display:inline-block;border:1px solid #c9d2e3;border-radius:12px;padding:1px 9px;margin:3px 4px 3px 0;
      font-size:13px;background:#eef3fb}
.chip b{color:#24478f;margin-right:4px}
.doc{white-space:pre-wrap;line-height:1.9}
.tok{border-radius:3px;padding:1px 0}
.rest{color:#8a93a3}
table.bars{border-collapse:collapse;width:100%}
table.bars td{padding:3px 6px;font-size:13px;vertical-align:middle}
td.name{white-space:nowrap;color:#24478f;font-family:ui-monospace,monospace}
td.label{color:#394150;max-width:260px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
td.bar{width:45%} .bar div{background:linear-gradient(90deg,#f59e0b,#f97316);height:14px;border-radius:3px}
td.num{text-align:right;font-family:ui-monospace,monospace;white-space:nowrap}
"""


def _chips(ex: Explanation, top: int) -> str:
    return "".join(f'<span class="chip" title="{latent_name(r["latent"])}"><b>{r["weight"]}</b>'
                   f'{html.escape(r["label"] or latent_name(r["latent"]))}</span>' for r in ex.query_latents[:top])


def _bars(ex: Explanation, top: int) -> str:
    if not ex.contributions:
        return '<p class="meta">No latent shared with the query.</p>'
    peak = ex.contributions[0].product or 1
    rows = [f'<tr><td class="name">{c.term}</td><td class="label" title="{html.escape(c.label)}">'
            f'{html.escape(c.label)}</td><td class="bar"><div style="width:{100 * c.product / peak:.1f}%"></div></td>'
            f'<td class="num">{c.query_weight} &times; {c.doc_weight} = {c.product}</td></tr>'
            for c in ex.contributions[:top]]
    return f'<table class="bars">{"".join(rows)}</table>'


def _shaded_document(ex: Explanation, model: SplareModel) -> str:
    """The document text, each pooled token shaded by its share of the shared latents' query weight."""
    text = ex.document or ""
    acts = token_activations(model, [text])[0]
    shared = {c.latent: c for c in ex.part("latent")}
    strengths, titles = [], []
    for position in range(len(acts.spans)):
        row = acts.weights[position]
        fired = [(latent, float(row[latent])) for latent in shared if row[latent] > 0]
        strengths.append(sum(shared[latent].query_weight * w for latent, w in fired))
        titles.append("; ".join(f"{latent_name(lat)} {shared[lat].label} ({w:.2f})"
                                for lat, w in sorted(fired, key=lambda x: -x[1])[:5]))
    # Min-max over the shaded tokens: latents that fire on nearly every token would otherwise
    # shade the whole text alike and hide the tokens that make the difference.
    shaded = [x for x in strengths if x]
    low, high = min(shaded, default=0.0), max(shaded, default=0.0)
    span = (high - low) or high or 1.0
    out, cursor = [], 0
    for (start, end), strength, title in zip(acts.spans, strengths, titles):
        if start < cursor:  # overlapping spans (rare byte-fallback pieces): keep the text once
            continue
        out.append(html.escape(text[cursor:start]))
        alpha = 0.1 + 0.75 * (strength - low) / span if high > low else 0.5
        piece = html.escape(text[start:end])
        out.append(f'<span class="tok" style="background:rgba(249,115,22,{alpha:.2f})" title="{html.escape(title)}">'
                   f'{piece}</span>' if strength else piece)
        cursor = end
    if cursor < len(text):
        out.append(f'<span class="rest" title="beyond the tokens read">{html.escape(text[cursor:])}</span>')
    return "".join(out)


def render_html(ex: Explanation, model: SplareModel, top: int = 25) -> str:
    parts = [f'<div class="card"><div class="meta">query</div><div class="query">{html.escape(ex.query)}</div>'
             f'<h2>Query latents ({len(ex.query_latents)})</h2>{_chips(ex, top)}</div>']
    if ex.docid is not None:
        if ex.score is None:
            check = '<span class="meta">not retrieved in the searched depth: no Lucene score to check</span>'
        else:
            verdict = ('<span class="ok">= Lucene score</span>' if ex.matches_lucene
                       else '<span class="bad">&ne; Lucene score</span>')
            check = f"sum of contributions {ex.total} {verdict} {ex.score:g}"
        parts.append(f'<div class="card"><div class="meta">document</div><h1>{html.escape(ex.docid)}</h1>'
                     f'<div class="meta">{check} &middot; {len(ex.contributions)} shared latents</div>'
                     f'<h2>Contributions (q_w &times; d_w)</h2>{_bars(ex, top)}'
                     f'<h2>Document, shaded by the shared latents</h2>'
                     f'<div class="doc">{_shaded_document(ex, model) if ex.document else "(text not stored in the index)"}'
                     f'</div></div>')
    title = f"SPLARE explanation: {ex.docid or ex.query}"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{STYLE}</style></head>'
            f'<body><main>{"".join(parts)}</main></body></html>\n')


def write_html(ex: Explanation, model: SplareModel, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(ex, model), encoding="utf-8")
    return path
