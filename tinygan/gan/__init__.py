"""The GAN and its runs: the model and its training step, config, recipes, the training loop,
checkpoints and Jacobian truncation. It draws nothing."""
