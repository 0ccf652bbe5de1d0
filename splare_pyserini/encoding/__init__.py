"""The encode job: a corpus to Lucene JsonVectorCollection shards (resumable, exactly once,
optionally with BM25 words for the one-index hybrid) and topics to Pyserini TSV, with the model."""
