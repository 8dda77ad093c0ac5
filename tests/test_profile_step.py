"""benchmarks/profile_step.py: its list of the step's matmuls and the runner that times them."""

import numpy as np
from benchmark_scripts import load_benchmark

profile = load_benchmark("profile_step")
bench_train = load_benchmark("bench_train")


def test_the_matmul_list_of_the_case_study_shape_costs_its_hand_count():
    # Batch 64, G 2-128-128-2, D 2-128-128-1; a layer a -> b on m rows costs 2mab per matmul.
    # D step: G forward on 64 rows (2,162,688), D forward and dL/dW on 128 rows (4,292,608 each),
    #   dL/dx without D's first layer (4,227,072): 14,974,976.
    # G step: G forward and dL/dW (2,162,688 each), D forward and dL/dx on 64 rows (2,146,304 each),
    #   G's dL/dx without its first layer (2,129,920): 10,747,904.
    config = profile.make_config("64x128")
    assert bench_train.config_flops(config) == 14_974_976 + 10_747_904
    config.d_steps = 2
    assert bench_train.config_flops(config) == 2 * 14_974_976 + 10_747_904


def test_the_matmul_list_skips_what_the_fused_step_skips():
    config = profile.make_config("ring8")  # G 2-256-256-256-2, D 5-256-256-256-1 (2 samples and their spread)
    shapes = bench_train.matmul_shapes(config)
    kinds = [kind for _, _, _, kind in shapes]
    assert kinds.count(bench_train.FORWARD) == 4 + 4 + 4 + 4  # G and D, in each of the two steps
    assert kinds.count(bench_train.WEIGHT_GRAD) == 4 + 4  # D's in the D step, G's in the G step
    assert kinds.count(bench_train.INPUT_GRAD) == 3 + 4 + 3  # no d/dreal and no d/dz; all of D's in the G step


def test_the_runner_makes_each_kind_of_product():
    shapes = [(3, 4, 5, bench_train.FORWARD), (4, 3, 5, bench_train.WEIGHT_GRAD), (3, 5, 4, bench_train.INPUT_GRAD)]
    table, a, b, c = profile.matmul_operands(shapes, np.float64)
    profile.run_matmuls(table, a, b, c)
    assert len(set(table[:, 4])) == len(set(table[:, 5])) == len(set(table[:, 6])) == 3  # operands of their own
    for (m, k, n, kind), (_, _, _, _, a0, b0, c0) in zip(shapes, table):
        if kind == bench_train.FORWARD:
            expected = a[a0 : a0 + m * k].reshape(m, k) @ b[b0 : b0 + k * n].reshape(k, n)
        elif kind == bench_train.WEIGHT_GRAD:
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


def test_the_grid_recipe_counts_q_reading_its_codes_back():
    config = profile.make_config("grid25")  # the recipe itself: 150 latent codes, read back by Q
    assert config.latent_codes == 150 and config.code_info > 0
    kinds = [kind for _, _, _, kind in bench_train.matmul_shapes(config)]
    assert kinds.count(bench_train.FORWARD) == 4 + 4 + 4 + 4 + 3  # G and D in each step, Q in the G step
    assert kinds.count(bench_train.WEIGHT_GRAD) == 4 + 3 + 4  # D's; Q's and G's in the G step
    assert kinds.count(bench_train.INPUT_GRAD) == 3 + 4 + 3 + 3  # Q's first layer too: dCE/dfake reaches G
    # Q, 2-128-128-150 on the 128 fakes: forward, dL/dW and dL/dx cost 2 * 128 * (2*128 + 128*128 + 128*150) each.
    no_reader = profile.make_config("grid25")
    no_reader.code_info = 0.0  # the same G (its input keeps the codes), no Q
    assert bench_train.config_flops(config) - bench_train.config_flops(no_reader) == 3 * 2 * 128 * 35_840
    loops = profile.elementwise_shapes(config)
    q_loops = len(loops) - len(profile.elementwise_shapes(no_reader))
    assert q_loops == 3 + 2 + 3  # Q's bias and activation per layer, act' of its two hidden layers, 3 bias sums
    # The fused step adds each code's row of G's first weight: its matmuls there see z alone (2 of 152 inputs),
    # in the D step's and the G step's forward and in G's dL/dW.
    dense, fused = bench_train.config_flops(config), bench_train.config_flops(config, code_rows=True)
    assert dense - fused == 3 * 2 * 128 * 150 * 256
