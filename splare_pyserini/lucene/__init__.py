"""Pyserini/Anserini integration: the Java environment, Pyserini query encoders, the one-call
impact searcher, the one-index BM25 hybrid, Pyserini's index/search/fusion commands, trec_eval."""
