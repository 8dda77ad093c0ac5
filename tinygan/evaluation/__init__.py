"""Data sources and measures: Gaussian mixtures and user data, metrics, and the theory checks.
Measures take samples (and a discriminator's logits), not training state."""
