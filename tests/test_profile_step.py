"""benchmarks/profile_step.py: its list of the step's matmuls and the runner that times them."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(HERE))
spec = importlib.util.spec_from_file_location("profile_step", HERE / "profile_step.py")
profile = importlib.util.module_from_spec(spec)
spec.loader.exec_module(profile)
import bench_train  # noqa: E402  (benchmarks/ is on the path now)


@pytest.mark.parametrize("case", ["64x16", "1024x512", "two", "ring8", "grid25", "digits"])  # two: 2 D steps
def test_the_matmul_list_costs_what_the_benchmark_counts(case):
    config = profile.make_config(case)
    assert profile.shape_flops(profile.matmul_shapes(config)) == bench_train.config_flops(config)


def test_the_runner_makes_each_kind_of_product():
    shapes = [(3, 4, 5, profile.FORWARD), (4, 3, 5, profile.WEIGHT_GRAD), (3, 5, 4, profile.INPUT_GRAD)]
    table, a, b, c = profile.matmul_operands(shapes, np.float64)
    profile.run_matmuls(table, a, b, c)
    assert len(set(table[:, 4])) == len(set(table[:, 5])) == len(set(table[:, 6])) == 3  # operands of their own
    for (m, k, n, kind), (_, _, _, _, a0, b0, c0) in zip(shapes, table):
        if kind == profile.FORWARD:
            expected = a[a0 : a0 + m * k].reshape(m, k) @ b[b0 : b0 + k * n].reshape(k, n)
        elif kind == profile.WEIGHT_GRAD:
            expected = a[a0 : a0 + k * m].reshape(k, m).T @ b[b0 : b0 + k * n].reshape(k, n)
        else:
            expected = a[a0 : a0 + m * k].reshape(m, k) @ b[b0 : b0 + n * k].reshape(n, k).T
        np.testing.assert_allclose(c[c0 : c0 + m * n].reshape(m, n), expected, rtol=1e-12)


def test_the_elementwise_list_covers_every_layer_output_of_the_forward_passes():
    config = profile.make_config("ring8")  # 3 x 256, pack 2: G on 128 samples, D on 128 then 64 packs
    g_sizes, d_sizes = profile.layer_widths(config)
    loops = profile.elementwise_shapes(config)
    forward = sum(rows * cols for rows, cols, kind, _ in loops if kind == profile.ACT_FORWARD)
    assert forward == 2 * 128 * sum(g_sizes[1:]) + (128 + 64) * sum(d_sizes[1:])
    bias_sums = sum(rows * cols for rows, cols, kind, _ in loops if kind == profile.BIAS_SUM)
    assert bias_sums == 128 * sum(d_sizes[1:]) + 128 * sum(g_sizes[1:])  # D's in the D step, G's in the G step


def test_the_elementwise_runner_matches_the_numpy_twins():
    from tinygan.fast import kernels

    loops = [(3, 4, profile.ACT_FORWARD, kernels.LEAKY_RELU), (3, 4, profile.ACT_BACKWARD, kernels.TANH),
             (2, 5, profile.BIAS_SUM, kernels.RELU)]  # fmt: skip
    table, data, outputs, bias, grad_bias = profile.elementwise_operands(loops, np.float64)
    before = data.copy()
    profile.run_elementwise(table, data, outputs, bias, grad_bias, 0.2)
    expected = kernels.bias_act_forward_numpy(before[:12].reshape(3, 4), bias[:4], kernels.LEAKY_RELU, 0.2)
    np.testing.assert_allclose(data[:12].reshape(3, 4), expected, rtol=1e-12)
    expected = kernels.act_backward_numpy(before[12:24], outputs[12:24], kernels.TANH, 0.2)
    np.testing.assert_allclose(data[12:24], expected, rtol=1e-12)
    np.testing.assert_allclose(grad_bias[:5], before[24:34].reshape(2, 5).sum(axis=0), rtol=1e-12)
