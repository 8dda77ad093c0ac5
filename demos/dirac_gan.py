"""The Dirac GAN (Mescheder et al., 2018): without a gradient penalty GAN training circles its
equilibrium and drifts away; with R1 it converges.

The data is a point mass at 0, G_theta a point mass at theta, and D's logit logit_psi(x) = psi x. With
V(theta, psi) = log sigmoid(logit(0)) + log(1 - sigmoid(logit(theta))), simultaneous gradient steps
(D ascends V in psi, G descends it in theta) of size lr follow the field

    theta' =  psi sigmoid(psi theta)
    psi'   = -theta sigmoid(psi theta) - gamma psi          (the last term: R1, gamma/2 psi^2)

whose Jacobian at the equilibrium (0, 0) is [[0, 1/2], [-1/2, -gamma]] (docs/theory.md, section 8).
R1's gradient in psi is taken from ``tinygan.r1_penalty`` on D as a one-weight Dense layer.

    python demos/dirac_gan.py --steps 500 --lr 0.1 --gamma 1

Prints the distance to (0, 0) every steps/10 steps for gamma = 0 and for --gamma, and the
eigenvalues of the linearised step; writes nothing.
"""

from __future__ import annotations

import numpy as np

import tinygan as tg
from tinygan.cli import OneLineParser, number


def r1_gradient(psi: float, gamma: float) -> float:
    """d/dpsi of gamma/2 ||d logit_psi(x) / dx||^2 at the real point x = 0, by ``tinygan.r1_penalty``."""
    D = tg.Sequential(tg.Dense(1, 1, dtype=np.float64))  # logit(x) = x W + b with W = psi, b = 0
    D.layers[0].weight.data[...] = psi
    D.layers[0].bias.data[...] = 0.0
    tg.r1_penalty(D, np.zeros((1, 1)), weight=gamma)  # adds gamma * psi into W's grad
    return float(D.layers[0].weight.grad[0, 0])


def field(theta: float, psi: float, gamma: float) -> tuple[float, float]:
    """(theta', psi'): G descends V in theta, D ascends V - gamma/2 psi^2 in psi."""
    s = 1.0 / (1.0 + np.exp(-psi * theta))  # sigmoid(logit(theta)) = D(theta), the fake's probability of being real
    return psi * s, -theta * s - r1_gradient(psi, gamma)


def simulate(gamma: float, steps: int, lr: float, start: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Distance to the equilibrium (0, 0) after 0, 1, ..., steps simultaneous gradient steps, (steps + 1,)."""
    theta, psi = start
    distances = [np.hypot(theta, psi)]
    for _ in range(steps):
        d_theta, d_psi = field(theta, psi, gamma)
        theta, psi = theta + lr * d_theta, psi + lr * d_psi  # both from the same (theta, psi): simultaneous
        distances.append(np.hypot(theta, psi))
    return np.array(distances)


def step_eigenvalues(gamma: float, lr: float) -> np.ndarray:
    """Eigenvalues of the linearised step I + lr J at (0, 0): it converges iff every modulus is < 1."""
    jacobian = np.array([[0.0, 0.5], [-0.5, -gamma]])
    return np.linalg.eigvals(np.eye(2) + lr * jacobian)


def main(argv: list[str] | None = None) -> dict[float, np.ndarray]:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    # Bounds keep the picture meaningful: past lr 1 or gamma 10 a step overshoots the linearised
    # dynamics it illustrates (and float64 overflows), and 100,000 steps already take seconds.
    parser.add_argument("--steps", type=number(int, 0, "--steps", at_most=100_000), default=500,
                        help="gradient steps, at most 100,000")  # fmt: skip
    parser.add_argument("--lr", type=number(float, 0, "--lr", at_most=1.0), default=0.1,
                        help="step size of both players, in (0, 1]")  # fmt: skip
    parser.add_argument("--gamma", type=number(float, 0, "--gamma", at_most=10.0), default=1.0,
                        help="R1's strength, in (0, 10]")  # fmt: skip
    args = parser.parse_args(argv)
    runs = {gamma: simulate(gamma, args.steps, args.lr) for gamma in (0.0, args.gamma)}
    print(f"distance to the equilibrium (0, 0), starting from (theta, psi) = (1, 1), lr {args.lr:g}")
    print(f"{'step':>6} {'no penalty':>12} {f'R1 gamma={args.gamma:g}':>14}")
    for step in range(0, args.steps + 1, max(1, args.steps // 10)):
        print(f"{step:>6} {runs[0.0][step]:>12.4g} {runs[args.gamma][step]:>14.4g}")
    for gamma in runs:
        moduli = np.abs(step_eigenvalues(gamma, args.lr))
        print(f"gamma={gamma:g}: |eigenvalues| of the linearised step {moduli[0]:.5f}, {moduli[1]:.5f}")
    return runs


if __name__ == "__main__":
    main()
