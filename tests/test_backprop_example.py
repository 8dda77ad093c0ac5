"""docs/backprop.md stays true: its worked example is what the code computes, its links point at the code."""

import ast
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
    "pre1": [1.5, -0.4],
    "h": [1.5, -0.08],
    "logit": [0.54],
    "s": [0.6318124177],
    "loss": [0.4591627363],
    "g": [-0.3681875823],
    "dW2": [-0.5522813734, 0.0294550066],
    "db2": [-0.3681875823],
    "dh": [-0.3681875823, 0.1840937911],
    "dpre1": [-0.3681875823, 0.0368187582],
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
    out = {"pre1": dense1.forward(x)}
    out["h"] = act.forward(out["pre1"])
    out["logit"] = dense2.forward(out["h"])
    out["s"] = 1 / (1 + np.exp(-out["logit"]))
    loss, g = tinygan.bce_with_logits(out["logit"], 1.0)
    out["loss"], out["g"] = np.array(loss), g
    net.zero_grad()
    out["dh"] = dense2.backward(g)
    out["dpre1"] = act.backward(out["dh"])
    out["dx"] = dense1.backward(out["dpre1"])
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
            printed = f"{value:.10f}".rstrip("0").rstrip(".") if name in ("pre1", "h", "logit") else f"{value:.10f}"
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
# The step each section of docs/backprop.md walks through: its links into gan/model.py must land in
# these functions (the D step's and the G step's lines read alike: `fake = self.generate(z, labels)`).
PHASES = {
    "### 2.1": ("discriminator_forward_backward", "step_discriminator"),
    "### 2.2": ("generator_forward_backward", "step_generator"),
}


def doc_links() -> list[tuple[str, str, str, int]]:
    """(section heading, link text, file under tinygan/, line) of every source link, in order."""
    links, section = [], ""
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            section = line
        links += [(section, text, file, int(number)) for text, file, number in LINK.findall(line)]
    return links


def enclosing_function(source: str) -> dict[int, str]:
    """Line number -> name of the innermost function whose body (or def) holds it."""
    owner = {}
    for node in ast.walk(ast.parse(source)):  # breadth first: nested functions come later and win
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            owner |= dict.fromkeys(range(node.lineno, node.end_lineno + 1), node.name)
    return owner


def phase_of(section: str, file: str) -> tuple[str, ...] | None:
    """The functions a link from ``section`` into ``file`` must land in, or None (no phase)."""
    if file != "gan/model.py":
        return None
    return next((functions for prefix, functions in PHASES.items() if section.startswith(prefix)), None)


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


def lines_for(section: str, text: str, file: str) -> list[int]:
    """The lines a link may point at: those naming ``text``, inside the section's step if it has one."""
    source = (ROOT / "tinygan" / file).read_text(encoding="utf-8")
    found = matching_lines(text, source.splitlines())
    phase = phase_of(section, file)
    if phase is not None:
        owner = enclosing_function(source)
        found = [number for number in found if owner.get(number) in phase]
    return found


def test_source_links_point_at_the_named_code_in_the_right_step():
    """Every [`code`](../tinygan/file.py#L12) lands on a line that holds what it names and, in the D-step
    and G-step sections, inside that step's functions (the message says where it is now)."""
    links = doc_links()
    assert len(links) >= 30
    wrong = []
    for section, text, file, number in links:
        found = lines_for(section, text, file)
        assert found, f"{text!r} is no longer in tinygan/{file} (within {phase_of(section, file)})"
        if number not in found:
            wrong.append(f"[{text}]({file}#L{number}) in {section!r}: now at line(s) {found}")
    assert not wrong, "docs/backprop.md links out of date:\n" + "\n".join(wrong)


def test_each_step_section_links_into_its_own_step():
    """The phase check has work to do: both step sections link into gan/model.py several times, and the
    two steps' look-alike lines (G's forward, D.zero_grad) resolve to different lines in each."""
    links = doc_links()
    for prefix in PHASES:
        assert sum(1 for section, _, file, _ in links if section.startswith(prefix) and file == "gan/model.py") >= 5
    for text in ("fake = self.generate(z, labels)", "self.D.zero_grad()"):
        in_d = lines_for("### 2.1", text, "gan/model.py")
        in_g = lines_for("### 2.2", text, "gan/model.py")
        assert len(in_d) == len(in_g) == 1 and in_d != in_g, (text, in_d, in_g)
