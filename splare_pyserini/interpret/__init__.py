"""Interpretability: token activations, latent labelling, score explanations and their HTML page."""
