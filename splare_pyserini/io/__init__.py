"""Files in and out: corpus/topic readers (BEIR, TSV, Pyserini JSONL, folders, ``.gz``) and the
atomic, resumable JsonVectorCollection writer."""
