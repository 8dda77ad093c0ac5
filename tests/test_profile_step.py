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
