"""The textbook engine: modules, layers, activations, losses, optimizers and the gradient checker.

Each forward pass sits beside its backward pass, with the derivation in the docstring. It runs
on whichever backend ``tinygan.fast.backend`` selects and knows nothing of GANs or plots.
"""
