"""Why G minimises -log D(G(z)) and not the article's log(1 - D(G(z))): the second one saturates.

With s = D(G(z)) = sigmoid(logit), each sample's generator-loss gradient w.r.t. its logit is

    minimax        L = log(1 - s):   dL/dlogit = -s       -> 0 when D rejects the fake (s -> 0)
    nonsaturating  L = -log s:       dL/dlogit = s - 1    -> -1 when s -> 0

and everything G learns is that number times dlogit/dfake times dfake/dtheta (the chain rule).
Three panels:

1. the two curves above, computed by ``tinygan.generator_loss`` itself;
2. the case-study GAN (mixture "two", default GANConfig) trained ``--steps`` steps with each loss:
   the norm of G's gradient buffer after every step, and the mean s. Here D and G learn at the
   same pace, s stays in 0.3-0.5, and the two losses give gradients of similar size;
3. the regime where saturation bites: G frozen at its initial weights, D trained ``--d-steps``
   steps against it (D wins, s -> 0), and G's gradient under each loss on the *same* D. The
   minimax gradient falls behind by about a factor s (each sample is weighted by s instead of
   1 - s); its absolute size also depends on how steep D has become.

    python demos/saturation.py --out runs/saturation --seed 0 --steps 500

Writes saturation.png and saturation.json into --out (and .tinygan-run.json, the list of the
files it wrote); it refuses to overwrite a file tinygan did not create unless --force is given.
"""

from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tinygan import generator_loss, to_numpy  # noqa: E402
from tinygan.cli import OneLineParser, number  # noqa: E402
from tinygan.evaluation.data import mixture  # noqa: E402
from tinygan.fast.backend import limit_threads  # noqa: E402
from tinygan.gan.model import GAN, GANConfig  # noqa: E402
from tinygan.outputs import OutputPlan, write_json  # noqa: E402
from tinygan.plot import Destination, save_figure  # noqa: E402

LOSSES = ("minimax", "nonsaturating")


def logit_gradient_curves(s: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sample dL/dlogit at s = D(G(z)), from ``generator_loss`` (which divides by N; undo it)."""
    logits = np.log(s / (1 - s))[:, None]  # (n, 1): sigmoid(logits) = s
    return {kind: generator_loss(logits, kind)[1][:, 0] * logits.size for kind in LOSSES}


def mean_s(gan: GAN, z) -> float:
    """Mean s = D(G(z)) over the noise z (B, 2)."""
    logits = to_numpy(gan.D.forward(gan.G.forward(z))).astype(np.float64)  # (B, 1)
    return float(np.mean(1 / (1 + np.exp(-logits))))


def early_training(kind: str, steps: int, seed: int) -> dict[str, list[float]]:
    """Train the case study; after each step read G's gradient (left in its flat buffer) and s."""
    gan = GAN(mixture("two"), GANConfig(loss=kind), seed=seed)
    probe = np.random.default_rng([seed, 9])  # its own noise, so probing does not change training
    record: dict[str, list[float]] = {"step": [], "grad_norm": [], "mean_s": []}
    for step in range(steps):
        gan.train_step()
        record["step"].append(step + 1)
        record["grad_norm"].append(float(np.linalg.norm(to_numpy(gan.G.flat.grad))))  # this step's dL_G/dtheta_G
        z = gan.xp.asarray(probe.standard_normal((gan.config.batch_size, 2)).astype(gan.dtype))
        record["mean_s"].append(mean_s(gan, z))
    return record


def discriminator_ahead(d_steps: int, seed: int, every: int = 20) -> dict[str, list[float]]:
    """Freeze G; train D alone (the D half of train_step) and probe G's gradient under both losses.

    The probe is the G half of train_step without its update: ``gan.generator_forward_backward(z)`` leaves
    dL_G/dtheta_G in G's flat grad buffer; the loss kind is switched on the config for each probe.
    """
    gan = GAN(mixture("two"), GANConfig(), seed=seed)
    B = gan.config.batch_size
    z_probe = gan.xp.asarray(np.random.default_rng([seed, 9]).standard_normal((B, 2)).astype(gan.dtype))
    record: dict[str, list[float]] = {"d_step": [], "mean_s": [], **{k: [] for k in LOSSES}}
    for step in range(d_steps + 1):
        if step % every == 0:
            record["d_step"].append(step)
            for kind in LOSSES:
                gan.config.loss = kind
                gan.generator_forward_backward(z_probe)
                record[kind].append(float(np.linalg.norm(to_numpy(gan.G.flat.grad))))
            record["mean_s"].append(mean_s(gan, z_probe))
        gan.discriminator_forward_backward(gan.sample_real(B), gan.sample_noise(B))  # fills D's grads
        gan.opt_D.step()
    return record


def plot(curves: dict, early: dict, ahead: dict, path: Destination) -> None:
    colors = {"minimax": "tab:red", "nonsaturating": "tab:blue"}
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4), constrained_layout=True)

    ax = axes[0]
    s = curves["s"]
    ax.plot(s, curves["minimax"], color=colors["minimax"], lw=2, label="minimax  log(1 - s):  -s")
    ax.plot(
        s,
        curves["nonsaturating"],
        color=colors["nonsaturating"],
        lw=2,
        label="non-saturating  -log s:  s - 1",
    )
    ax.axhline(0, color="gray", lw=0.8)
    ax.axvspan(0, 0.1, color="0.9", label="D rejects the fake (early training)")
    ax.set_xlabel("s = D(G(z))")
    ax.set_ylabel("dL_G / dlogit  (one sample)")
    ax.set_title("generator-loss gradient w.r.t. the logit")
    ax.legend(fontsize=8)

    ax = axes[1]
    for kind in LOSSES:
        ax.plot(
            early[kind]["step"],
            early[kind]["grad_norm"],
            color=colors[kind],
            lw=1,
            label=f"{kind}: ||grad G||",
        )
    ax.set_yscale("log")
    ax.set_xlabel("training step (case study)")
    ax.set_ylabel("||dL_G / dtheta_G||")
    twin = ax.twinx()
    for kind in LOSSES:
        twin.plot(early[kind]["step"], early[kind]["mean_s"], color=colors[kind], ls=":", label=f"{kind}: mean s")
    twin.set_ylim(0, 1)
    twin.set_ylabel("mean s = D(G(z))  (dotted)")
    ax.set_title("case study: D and G learn in step, s stays 0.3-0.5")
    ax.legend(fontsize=8, loc="upper left")

    ax = axes[2]
    for kind in LOSSES:
        ax.plot(ahead["d_step"], ahead[kind], color=colors[kind], lw=2, label=kind)
    ax.set_yscale("log")
    ax.set_xlabel("D steps against a frozen, initial G")
    ax.set_ylabel("||dL_G / dtheta_G||  (same D for both)")
    twin = ax.twinx()
    twin.plot(ahead["d_step"], ahead["mean_s"], color="k", ls=":", label="mean s")
    twin.set_yscale("log")
    twin.set_ylabel("mean s = D(G(z))  (dotted)")
    ratio = ahead["nonsaturating"][-1] / ahead["minimax"][-1]
    ax.set_title(f"D ahead of G: minimax gradient {ratio:.0f}x smaller at the end")
    ax.legend(fontsize=8, loc="center left")
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/saturation", help="output folder")
    parser.add_argument("--force", action="store_true", help="allow overwriting files tinygan did not create")
    parser.add_argument("--seed", type=number(int, 0, "--seed", strict=False), default=0)
    parser.add_argument(
        "--steps", type=number(int, 0, "--steps"), default=500, help="GAN training steps per loss (panel 2)"
    )
    parser.add_argument(
        "--d-steps", type=number(int, 0, "--d-steps"), default=1000, help="D-only steps against a frozen G (panel 3)"
    )
    args = parser.parse_args(argv)
    plan = OutputPlan(force=args.force)
    plan.folder(args.out, ("saturation.png", "saturation.json"))
    try:
        plan.check()  # before any work
    except ValueError as error:
        parser.error(str(error))
    start = time.perf_counter()

    s = np.linspace(0.001, 0.999, 999)
    curves = {"s": s, **logit_gradient_curves(s)}
    with limit_threads(1):
        early = {kind: early_training(kind, args.steps, args.seed) for kind in LOSSES}
        ahead = discriminator_ahead(args.d_steps, args.seed)

    for kind in LOSSES:
        g, m = np.array(early[kind]["grad_norm"]), np.array(early[kind]["mean_s"])
        print(f"case study, {kind:>13}: median ||grad G|| = {np.median(g):.3g}, min mean s = {m.min():.3f}")
    last_mm, last_ns = ahead["minimax"][-1], ahead["nonsaturating"][-1]
    print(
        f"after {args.d_steps} D steps against the initial G: mean s = {ahead['mean_s'][-1]:.2e}, "
        f"||grad G|| minimax = {last_mm:.3g}, nonsaturating = {last_ns:.3g} (ratio {last_ns / last_mm:.0f}x)"
    )

    plot(curves, early, ahead, plan.target("saturation.png"))
    summary = {
        "seed": args.seed,
        "steps": args.steps,
        "d_steps": args.d_steps,
        "early_training": early,
        "discriminator_ahead": ahead,
        "seconds": time.perf_counter() - start,
    }
    write_json(plan, "saturation.json", summary)
    plan.finish()
    print(f"wrote saturation.png and saturation.json to {args.out} in {summary['seconds']:.1f} s")
    return summary


if __name__ == "__main__":
    main()
