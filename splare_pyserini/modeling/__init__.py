"""The SPLARE model: backbone, SAE latents, pooling, Top-K/quantization, SplareModel/Config, the GGUF default.

Imports nothing else of splare_pyserini: the other packages build on it."""
