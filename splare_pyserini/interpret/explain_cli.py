"""``python -m splare_pyserini.explain``'s arguments and what they run: an explanation
(:mod:`~splare_pyserini.interpret.explanations`) printed as text or JSON, and written as an HTML
page (:mod:`~splare_pyserini.interpret.explain_html`) with ``--html``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from splare_pyserini.interpret import explanations
from splare_pyserini.interpret.explain_html import write_html
from splare_pyserini.interpret.explanations import explain_hit, explain_query, format_text, query_only
from splare_pyserini.lucene.query_encoders import SplareQueryEncoder
from splare_pyserini.modeling.model import SplareModel


def _run_hit(run: str, qid: str, rank: int) -> str:
    """The docid at ``rank`` for ``qid`` in a TREC run file."""
    for lineno, line in enumerate(Path(run).read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if len(parts) < 6:
            raise ValueError(f"{run}:{lineno}: not a TREC run line (qid Q0 docid rank score tag)")
        if parts[0] == qid and int(parts[3]) == rank:
            return parts[2]
    raise ValueError(f"{run}: no hit at rank {rank} for query {qid!r}")


def _topic_text(topics: str, qid: str) -> str:
    from splare_pyserini.io.readers import read_topics

    for record in read_topics(topics):
        if record.docid == qid:
            return record.text
    raise ValueError(f"{topics}: no query {qid!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=explanations.__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=explanations.__doc__.split("\n\n", 1)[1])
    parser.add_argument("--encoder", default=None, help="SPLARE model directory or packaged name (default: the embedded default)")
    parser.add_argument("--query", help="query text (or --topics with --qid)")
    parser.add_argument("--index", help="SPLARE impact index to explain a document of")
    parser.add_argument("--docid", help="document to explain")
    parser.add_argument("--run", help="TREC run file: explain its hit at --rank for --qid")
    parser.add_argument("--qid")
    parser.add_argument("--rank", type=int, default=1)
    parser.add_argument("--topics", help="queries file to read the text of --qid from")
    parser.add_argument("--k", type=int, default=1000, help="search depth to find the document's Lucene score")
    parser.add_argument("--min-idf", type=float, default=-1, help="as pyserini's impact search (-1 keeps every latent)")
    parser.add_argument("--hybrid", action="store_true",
                        help="--index is a hybrid index (encode --hybrid): the query carries its words too")
    parser.add_argument("--hybrid-alpha", type=float, default=None, help="BM25's share (default: the model's hybrid_alpha)")
    parser.add_argument("--language", default="en", help="analyzer of the hybrid query words")
    parser.add_argument("--top", type=int, default=20, help="rows printed as text")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--html", help="write a self-contained HTML page here")
    args = parser.parse_args(argv)
    if args.query is None:
        if not (args.topics and args.qid):
            parser.error("give --query, or --topics and --qid")
        args.query = _topic_text(args.topics, args.qid)
    if args.run:
        if not args.qid:
            parser.error("--run needs --qid (and --rank)")
        args.docid = _run_hit(args.run, args.qid, args.rank)
    if args.docid and not args.index:
        parser.error("--docid/--run need --index")
    if args.hybrid_alpha is not None and not args.hybrid:
        parser.error("--hybrid-alpha needs --hybrid")
    if args.hybrid and not args.index:
        parser.error("--hybrid needs --index (a hybrid index)")
    model = SplareModel.from_pretrained(args.encoder)
    if args.index:
        from splare_pyserini.lucene import java_env

        java_env.configure()
        from pyserini.search.lucene import LuceneImpactSearcher

        from splare_pyserini.lucene.query_encoders import SplareHybridQueryEncoder

        encoder = (SplareHybridQueryEncoder(model, alpha=args.hybrid_alpha, language=args.language) if args.hybrid
                   else SplareQueryEncoder(model))
        searcher = LuceneImpactSearcher(args.index, encoder, min_idf=args.min_idf)
        explanation = (explain_hit(searcher, args.query, docid=args.docid, k=args.k) if args.docid
                       else query_only(searcher, args.query, model))
    else:
        explanation = explain_query(model, args.query)
    if args.html:
        write_html(explanation, model, args.html)
    print(json.dumps(explanation.to_dict(), ensure_ascii=False, indent=2) if args.json
          else format_text(explanation, args.top))
    return 1 if explanation.matches_lucene is False else 0
