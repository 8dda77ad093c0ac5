"""Softmax cross-entropy on logits: value, stability, and its gradient (finite differences, torch)."""

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygan.nn.gradcheck import numerical_gradient, relative_error
from tinygan.nn.losses import softmax_cross_entropy

TOLERANCE = 1e-6
seeds = st.integers(0, 2**32 - 1)


def logits_and_labels(seed, rows, classes, scale):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=scale, size=(rows, classes)), rng.integers(0, classes, size=rows)


@given(seed=seeds, rows=st.integers(1, 32), classes=st.integers(2, 12), scale=st.floats(0.1, 30.0))
def test_gradient_matches_central_differences(seed, rows, classes, scale):
    logits, labels = logits_and_labels(seed, rows, classes, scale)
    _, grad = softmax_cross_entropy(logits, labels)
    numeric = numerical_gradient(
        lambda: float(softmax_cross_entropy(logits, labels)[0]), logits, list(np.ndindex(*logits.shape)), 1e-5
    )
    # Relative error, except where a saturated softmax leaves gradients far below the difference's
    # round-off, eps |L| / h ~ 1e-9 for losses up to ~100: there an absolute 1e-8 (a gradient that
    # kept only the softmax Jacobian's diagonal is off by ~1e-4 here).
    error = np.abs(grad.reshape(-1) - numeric)
    assert relative_error(grad.reshape(-1), numeric) <= TOLERANCE or np.max(error) <= 1e-8, np.max(error)


@given(seed=seeds, rows=st.integers(1, 32), classes=st.integers(2, 12), scale=st.floats(0.1, 30.0))
def test_matches_torch_autograd(seed, rows, classes, scale):
    if os.environ.get("TINYGAN_REQUIRE_TORCH") == "1":
        import torch
    else:
        torch = pytest.importorskip("torch")
    logits, labels = logits_and_labels(seed, rows, classes, scale)
    loss, grad = softmax_cross_entropy(logits, labels)
    reference = torch.tensor(logits, requires_grad=True)
    torch_loss = torch.nn.functional.cross_entropy(reference, torch.tensor(labels))
    torch_loss.backward()
    assert abs(float(loss) - torch_loss.item()) <= 1e-12 * max(1.0, abs(torch_loss.item()))
    np.testing.assert_allclose(grad, reference.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_value_against_the_textbook_formula_and_huge_logits():
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    labels = np.array([2, 1])
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    loss, grad = softmax_cross_entropy(logits, labels)
    assert float(loss) == pytest.approx(-np.mean(np.log(p[[0, 1], labels])), rel=1e-14)
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)  # each row of softmax - onehot sums to 0
    huge = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])  # a naive exp overflows here
    loss, grad = softmax_cross_entropy(huge, np.array([0, 0]))
    assert float(loss) == pytest.approx(1000.0)  # half the rows right (0), half wrong by 2000
    assert np.all(np.isfinite(grad)) and grad[1, 0] == pytest.approx(-0.5)


@pytest.mark.parametrize(
    "logits, labels, error, message",
    [
        (np.zeros(3), np.zeros(3, int), TypeError, "2-D float"),
        (np.zeros((2, 3), int), np.zeros(2, int), TypeError, "2-D float"),
        (np.zeros((2, 1)), np.zeros(2, int), ValueError, "two classes"),
        (np.zeros((2, 3)), np.zeros(3, int), ValueError, "2 integers"),
        (np.zeros((2, 3)), np.zeros(2), ValueError, "2 integers"),
        (np.zeros((2, 3)), np.array([0, 3]), ValueError, r"lie in \[0, 2\]"),
    ],
)
def test_bad_input_is_named(logits, labels, error, message):
    with pytest.raises(error, match=message):
        softmax_cross_entropy(logits, labels)


def test_unchecked_labels_give_the_same_numbers_and_skip_only_the_range_check():
    logits = np.random.default_rng(3).normal(size=(6, 4))
    labels = np.array([0, 3, 1, 2, 3, 0])
    checked, unchecked = (
        softmax_cross_entropy(logits, labels),
        softmax_cross_entropy(logits, labels, check_labels=False),
    )
    assert float(checked[0]) == float(unchecked[0])
    np.testing.assert_array_equal(checked[1], unchecked[1])
    with pytest.raises(ValueError, match="2 integers"):  # shapes and dtypes are still checked
        softmax_cross_entropy(logits[:2], labels, check_labels=False)
