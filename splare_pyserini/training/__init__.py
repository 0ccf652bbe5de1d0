"""Training: data sources and hard negatives, teachers, losses, callbacks, the LoRA trainer,
and SAE training with sae-lens."""
