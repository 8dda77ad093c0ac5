"""A categorical code in G's noise, kept readable from G's output (InfoGAN, Chen et al. 2016).

Why. G is a continuous map of a connected noise: where two regions of noise that go to different
modes meet, it must draw a thin band of points across the gap, the bridges (docs/theory.md,
section 7). Give G a second input, a one-hot code c of K equally likely values,

    G([z, onehot(c)]),   z ~ N(0, I) (noise_dim,),   c ~ uniform on {0, ..., K - 1},

and G may jump from mode to mode where the code changes, with no bridge: nothing forces G(z, c)
and G(z, c') to be close. Alone the code does not help (measured on the grid: G ignored it and
kept its bridges). InfoGAN's term makes G use it: a network Q learns to tell the code from G's
output, and G is trained to make that easy. Both minimise

    L_info = lambda CE,   CE = mean_i -log softmax(Q(G(z_i, c_i)))_{c_i}

(mean over the n samples of the G step; lambda = ``config.code_info``). Since I(c; x) = H(c) - H(c | x)
and Q's cross-entropy bounds H(c | x) from above, log K - CE is a lower bound on the mutual
information I(c; G(z, c)): both sides raise the information that the output carries about the code,
and codes that draw separate modes are the easy way to carry it.

Gradient (losses.softmax_cross_entropy derives dCE/dlogits = (softmax(l) - onehot(c)) / n):

    dL_info/dfake = lambda Q.backward((softmax(Q(fake)) - onehot(c)) / n)      (n, d)

which G adds to the gradient that D's loss sends back into its output. Q's own parameter gradients
come out of the same backward pass; Q takes one Adam step (G's rate and betas) each G step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn.layers import mlp
from ..nn.losses import softmax_cross_entropy
from ..nn.optim import Adam

Q_HIDDEN = 128  # Q: d -> 128 -> 128 -> K, LeakyReLU
Q_SLOPE = 0.2  # Q's LeakyReLU slope (whatever D's and G's are)


class CodeReader:
    """Q and its Adam: reads the code back from G's output and returns G's extra gradient."""

    def __init__(self, data_dim: int, codes: int, weight: float, *, lr: float, betas: tuple[float, float],
                 eps: float, rng: np.random.Generator, dtype: Any) -> None:  # fmt: skip
        self.codes, self.weight = int(codes), float(weight)
        self.sizes, self.slope = [data_dim, Q_HIDDEN, Q_HIDDEN, self.codes], Q_SLOPE  # Q's widths, LeakyReLU slope
        self.Q = mlp(self.sizes, "leaky_relu", negative_slope=self.slope, rng=rng, dtype=dtype)
        self.opt = Adam(self.Q.parameters(), lr, betas, eps)

    def generator_gradient(self, fake: Any, code_columns: Any, lr: float) -> tuple[Any, Any]:
        """(CE, lambda dCE/dfake (n, d)) for G's output ``fake`` (n, d) drawn with the one-hot codes
        ``code_columns`` (n, K); Q takes its Adam step at rate ``lr`` on the way."""
        codes = code_columns.argmax(axis=1)  # (n,) the code of each sample
        logits = self.Q.forward(fake)  # (n, K)
        ce, grad_logits = softmax_cross_entropy(logits, codes, check_labels=False)  # an argmax is in range
        # grad_logits (n, K) = (softmax - onehot) / n
        self.Q.zero_grad()
        grad_fake = self.Q.backward(grad_logits)  # (n, d); Q's parameter gradients filled on the way
        self.opt.lr = lr
        self.opt.step()
        return ce, self.weight * grad_fake
