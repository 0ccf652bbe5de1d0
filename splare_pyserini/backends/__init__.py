"""Search backends beside Lucene: Seismic (an inverted index with forward blocks for learned
sparse vectors), built from the encoder's JsonVectorCollection."""
