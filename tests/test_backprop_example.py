"""docs/backprop.md stays true: its worked example is what the code computes, its links point at the code."""

import re
from pathlib import Path

import numpy as np
import pytest

import tinygan
from tinygan.evaluation.data import mixture
from tinygan.gan.model import GAN, GANConfig

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "backprop.md"

# The numbers printed in docs/backprop.md, section 3 (10 decimals unless noted).
M = [-0.0368187582, 0.0036818758, -0.0736375165, 0.0073637516, -0.0368187582, 0.0036818758, -0.0552281373,
     0.0029455007, -0.0368187582]  # fmt: skip
NEW = [0.5999999973, -1.0999999728, 0.5999999986, 0.1500000136, 0.0999999973, 0.0000000272, 1.0999999982,
       -0.5999999660, -0.9000000027]  # fmt: skip
EXPECTED = {
    "z1": [1.5, -0.4],
    "h": [1.5, -0.08],
    "logit": [0.54],
    "s": [0.6318124177],
    "loss": [0.4591627363],
    "g": [-0.3681875823],
    "dW2": [-0.5522813734, 0.0294550066],
    "db2": [-0.3681875823],
    "dh": [-0.3681875823, 0.1840937911],
    "dz1": [-0.3681875823, 0.0368187582],
    "dW1": [-0.3681875823, 0.0368187582, -0.7363751645, 0.0736375165],
    "db1": [-0.3681875823, 0.0368187582],
    "dx": [-0.2209125494, -0.1748891016],
    "m": M,  # flat order [W1 row 0, W1 row 1, b1, W2, b2]
    "new": NEW,
    "logit_after": [1.2859999697],
    "loss_after": [0.2440233079],
}
# v to 7 significant digits
V = [1.355621e-04, 1.355621e-06, 5.422484e-04, 5.422484e-06, 1.355621e-04, 1.355621e-06, 3.050147e-04,
     8.675974e-07, 1.355621e-04]  # fmt: skip


def run_example() -> dict[str, np.ndarray]:
    """The code block of docs/backprop.md, section 3, returning every intermediate value."""
    net = tinygan.mlp([2, 2, 1], "leaky_relu", dtype=np.float64)
    dense1, act, dense2 = net.layers
    dense1.weight.data[...] = [[0.5, -1.0], [0.5, 0.25]]
    dense1.bias.data[...] = [0.0, 0.1]
    dense2.weight.data[...] = [[1.0], [-0.5]]
    dense2.bias.data[...] = [-1.0]
    x = np.array([[1.0, 2.0]])
    out = {"z1": dense1.forward(x)}
    out["h"] = act.forward(out["z1"])
    out["logit"] = dense2.forward(out["h"])
    out["s"] = 1 / (1 + np.exp(-out["logit"]))
    loss, g = tinygan.bce_with_logits(out["logit"], 1.0)
    out["loss"], out["g"] = np.array(loss), g
    net.zero_grad()
    out["dh"] = dense2.backward(g)
    out["dz1"] = act.backward(out["dh"])
    out["dx"] = dense1.backward(out["dz1"])
    out |= {
        "dW2": dense2.weight.grad,
        "db2": dense2.bias.grad,
        "dW1": dense1.weight.grad,
        "db1": dense1.bias.grad,
    }
    out = {k: np.array(v, copy=True) for k, v in out.items()}  # snapshot before the update
    opt = tinygan.Adam(net.parameters(), lr=0.1)
    opt.step()
    out["m"], out["v"], out["new"] = opt.m[0].copy(), opt.v[0].copy(), net.flat.data.copy()
    out["logit_after"] = net.forward(x)
    out["loss_after"] = np.array(tinygan.bce_with_logits(out["logit_after"], 1.0)[0])
    return out


def test_worked_example_matches_the_code():
    out = run_example()
    for name, values in EXPECTED.items():
        np.testing.assert_allclose(np.ravel(out[name]), values, rtol=0, atol=5.1e-11, err_msg=name)
    np.testing.assert_allclose(out["v"], V, rtol=5e-7, err_msg="v")
    # The flat gradient buffer is [dW1 row-major | db1 | dW2 | db2]: the order of the Adam table.
    flat_grad = np.concatenate([out[k].ravel() for k in ("dW1", "db1", "dW2", "db2")])
    np.testing.assert_allclose(out["m"], 0.1 * flat_grad, rtol=1e-12)


def test_doc_prints_the_same_numbers():
    text = DOC.read_text(encoding="utf-8")
    for name, values in EXPECTED.items():
        for value in values:
            printed = f"{value:.10f}".rstrip("0").rstrip(".") if name in ("z1", "h", "logit") else f"{value:.10f}"
            assert printed in text, f"{name}: {printed} is not in docs/backprop.md"
    for value in V:
        assert f"{value:.6e}" in text


@pytest.mark.parametrize("hidden", [64, 5])
def test_case_study_parameter_counts_in_the_doc(hidden):
    gan = GAN(mixture("two"), GANConfig(hidden=hidden, batch_size=8))
    assert gan.G.flat.size == hidden**2 + 6 * hidden + 2
    assert gan.D.flat.size == hidden**2 + 5 * hidden + 1
    if hidden == 64:
        text = DOC.read_text(encoding="utf-8")
        assert f"= {gan.G.flat.size}$" in text and f"= {gan.D.flat.size}$" in text


LINK = re.compile(r"\[`([^`]+)`\]\(\.\./tinygan/([a-z_/]+\.py)#L(\d+)\)")


def matching_lines(text: str, lines: list[str]) -> list[int]:
    """1-based numbers of the lines a link text names.

    A statement (text with '(', ' ', '=' or '['): lines containing it, up to any '...'.
    A name: lines ``def name`` / ``class name``; for ``Owner.name``, only inside ``class Owner``.
    """
    if any(c in text for c in "( =["):
        return [i + 1 for i, line in enumerate(lines) if text.split("...")[0] in line]
    *owner, name = text.split(".")
    found, enclosing = [], ""
    for i, line in enumerate(lines):
        if line.startswith("class "):
            enclosing = line
        if re.match(rf"\s*(def|class) {re.escape(name)}\b", line):
            if not owner or re.match(rf"class {re.escape(owner[0])}\b", enclosing):
                found.append(i + 1)
    return found


def test_source_links_point_at_the_named_code():
    """Every [`code`](../tinygan/file.py#L12) lands on the line it names (the message says where it is now)."""
    links = LINK.findall(DOC.read_text(encoding="utf-8"))
    assert len(links) >= 30
    wrong = []
    for text, file, number in links:
        lines = (ROOT / "tinygan" / file).read_text(encoding="utf-8").splitlines()
        found = matching_lines(text, lines)
        assert found, f"{text!r} is no longer in tinygan/{file}"
        if int(number) not in found:
            wrong.append(f"[{text}]({file}#L{number}): now at line(s) {found}")
    assert not wrong, "docs/backprop.md links out of date:\n" + "\n".join(wrong)
