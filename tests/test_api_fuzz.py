"""The public API, fuzzed with wrong values: every call succeeds or refuses by naming the argument.

Each case feeds one argument of one public function a value drawn from a pool of usual mistakes
(None, strings, floats for ints, bools, lists, ragged and nested lists, arrays of the wrong shape
or dtype, NaN, inf, negative, zero and huge numbers) or from hypothesis. The property: either the
call returns, or it raises TypeError or ValueError whose message names the argument (or the word
the function's errors use for it); never AttributeError, IndexError, ZeroDivisionError,
MemoryError, OverflowError or anything else.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygan as tg
from tinygan.evaluation import metrics

POOL: dict[str, Any] = {
    "None": None, "str": "abc", "empty str": "", "float": 1.5, "zero": 0, "negative": -1, "negative float": -2.5,
    "True": True, "False": False, "huge int": 10**30, "big int": 10**12, "nan": math.nan, "inf": math.inf,
    "-inf": -math.inf, "list": [1, 2], "ragged list": [[1, 2], [3]], "nested list": [[1.0, 2.0], [3.0, 4.0]],
    "array 2x2": np.zeros((2, 2)), "array (3,)": np.zeros(3), "array 2x2x2": np.zeros((2, 2, 2)),
    "0-d array": np.array(1.0), "string array": np.array([["a", "b"]]), "complex array": np.zeros((2, 2), complex),
    "empty array": np.zeros((0, 2)), "NaN array": np.full((2, 2), np.nan), "int array": np.zeros((2, 2), int),
    "bool array": np.zeros((2, 1), bool), "float32 column": np.zeros((4, 1), np.float32), "dict": {},
    "object": object(), "bytes": b"x", "tuple": (1, 2), "np.int64": np.int64(3), "np.float32": np.float32(2.0),
}  # fmt: skip

SMALL = {"hidden": 4, "depth": 1, "batch_size": 4, "steps": 3}
LOGITS = np.zeros((4, 1), np.float32)


def small_gan() -> tg.GAN:
    return tg.GAN(tg.mixture("two"), tg.GANConfig(**SMALL), seed=0)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Iterator[dict[str, str]]:
    """The files the calls read, in a folder that is also the working directory: a path the fuzzer
    makes up (save_checkpoint(path="abc")) lands there, not in the checkout."""
    folder = tmp_path_factory.mktemp("api")
    csv = folder / "p.csv"
    csv.write_text("1,2\n3,4\n")
    checkpoint = str(folder / "c.npz")
    tg.save_checkpoint(small_gan(), checkpoint)
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield {"csv": str(csv), "checkpoint": checkpoint, "out": str(folder / "out.npz")}
    finally:
        os.chdir(before)


@dataclass
class Case:
    """One argument of a public call: ``call(value, files)``; errors must name one of ``names``, and
    a call that returns must pass ``correct(value, result)``."""

    label: str
    call: Callable[[Any, dict[str, str]], Any]
    names: tuple[str, ...]
    correct: Callable[[Any, Any], bool] = lambda value, result: True


def points_of(n: int, dim: int = 2) -> Callable[[Any, Any], bool]:
    """A result check: n finite points of dimension dim (n given, or the value itself)."""
    return lambda value, result: (
        result.shape == (int(value) if n is None else n, dim) and bool(np.all(np.isfinite(result)))
    )


def params() -> list:
    return tg.mlp([2, 2], rng=0).parameters()


CASES = (
    [
        Case("mixture(name)", lambda v, f: tg.mixture(v), ("mixture",)),
        Case("mixture(dtype)", lambda v, f: tg.mixture("two", dtype=v), ("dtype",)),
        Case("GaussianMixture(means)", lambda v, f: tg.GaussianMixture(v), ("means",)),
        Case("GaussianMixture(covs)", lambda v, f: tg.GaussianMixture([[0.0, 0.0], [1.0, 1.0]], v), ("covs", "covari")),
        Case(
            "GaussianMixture(weights)", lambda v, f: tg.GaussianMixture([[0.0, 0.0], [1.0, 1.0]], None, v), ("weights",)
        ),
        Case("GaussianMixture(dtype)", lambda v, f: tg.GaussianMixture([[0.0, 0.0]], dtype=v), ("dtype",)),
        Case(
            "GaussianMixture.sample(n)",
            lambda v, f: tg.mixture("two").sample(v, np.random.default_rng(0)),
            ("n",),
            points_of(None),
        ),  # fmt: skip
        Case("GaussianMixture.sample(rng)", lambda v, f: tg.mixture("two").sample(3, v), ("rng",), points_of(3)),
        Case("EmpiricalData(points)", lambda v, f: tg.EmpiricalData(v), ("data",)),
        Case("EmpiricalData(dtype)", lambda v, f: tg.EmpiricalData([[1, 2], [3, 4]], dtype=v), ("dtype",)),
        Case(
            "EmpiricalData.sample(n)",
            lambda v, f: tg.EmpiricalData([[1, 2], [3, 4]]).sample(v, np.random.default_rng(0)),
            ("n",),
        ),  # fmt: skip
        Case("EmpiricalData.sample(rng)", lambda v, f: tg.EmpiricalData([[1, 2], [3, 4]]).sample(2, v), ("rng",)),
        Case("load_points(path)", lambda v, f: tg.load_points(v), ("path", "data file")),
        Case("load_points(dtype)", lambda v, f: tg.load_points(f["csv"], dtype=v), ("dtype",)),
        Case(
            "load_points(max_bytes)",
            lambda v, f: tg.load_points(f["csv"], max_bytes=v),
            ("max_bytes", "the limit is"),
            lambda v, result: result.points.tolist() == [[1, 2], [3, 4]],
        ),  # fmt: skip
        Case("points_from_bytes(content)", lambda v, f: tg.points_from_bytes(v, "a.csv"), ("content", "data file")),
        Case(
            "points_from_bytes(filename)",
            lambda v, f: tg.points_from_bytes(b"1,2\n3,4\n", v),
            ("filename", "data file"),
        ),  # fmt: skip
        Case("make_data(name)", lambda v, f: tg.make_data(v), ("name", "mixture")),
        Case("make_data(data_path)", lambda v, f: tg.make_data(None, v), ("path", "data file")),
        Case("recipe(name)", lambda v, f: tg.recipe(v), ("recipe",)),
        Case("GAN(data)", lambda v, f: tg.GAN(v, tg.GANConfig(**SMALL)), ("data",)),
        Case("GAN(config)", lambda v, f: tg.GAN(tg.mixture("two"), v), ("config",)),
        Case("GAN(seed)", lambda v, f: tg.GAN(tg.mixture("two"), tg.GANConfig(**SMALL), seed=v), ("seed",)),
        Case("GAN.sample(n)", lambda v, f: small_gan().sample(v), ("n",), points_of(None)),
        Case("GAN.sample(rng)", lambda v, f: small_gan().sample(3, rng=v), ("rng",), points_of(3)),
        Case(
            "GAN.sample(jacobian_truncation)",
            lambda v, f: small_gan().sample(3, jacobian_truncation=v),
            ("truncation",),
        ),  # fmt: skip
        Case(
            "mlp(sizes)",
            lambda v, f: tg.mlp(v),
            ("sizes",),
            lambda v, result: (
                [layer.out_features for layer in result.layers if isinstance(layer, tg.Dense)] == list(v)[1:]
            ),
        ),  # fmt: skip
        Case("mlp(activation)", lambda v, f: tg.mlp([2, 3, 1], v), ("activation",)),
        Case("mlp(output_activation)", lambda v, f: tg.mlp([2, 3, 1], output_activation=v), ("activation",)),
        Case(
            "mlp(negative_slope)", lambda v, f: tg.mlp([2, 3, 1], "leaky_relu", negative_slope=v), ("negative_slope",)
        ),
        Case("mlp(rng)", lambda v, f: tg.mlp([2, 3], rng=v), ("rng",)),
        Case("mlp(dtype)", lambda v, f: tg.mlp([2, 3], dtype=v), ("dtype",)),
        Case("mlp(init)", lambda v, f: tg.mlp([2, 3], init=v), ("init",)),
        Case("Dense(in_features)", lambda v, f: tg.Dense(v, 2), ("in_features",)),
        Case("Dense(out_features)", lambda v, f: tg.Dense(2, v), ("out_features",)),
        Case("Module.__call__(x)", lambda v, f: tg.mlp([2, 3], rng=0)(v), ("input",)),
        Case(
            "Sequential.backward(grad_out)",
            lambda v, f: (lambda m: (m(np.zeros((2, 2), np.float32)), m.backward(v)))(tg.mlp([2, 3, 1], rng=0)),
            ("grad_out",),
        ),  # fmt: skip
        Case("LeakyReLU(negative_slope)", lambda v, f: tg.LeakyReLU(v), ("negative_slope",)),
        Case("Adam(params)", lambda v, f: tg.Adam(v), ("params",)),
        Case("Adam(lr)", lambda v, f: tg.Adam(params(), lr=v), ("lr",)),
        Case("Adam(betas)", lambda v, f: tg.Adam(params(), betas=v), ("betas",)),
        Case("Adam(eps)", lambda v, f: tg.Adam(params(), eps=v), ("eps",)),
        Case("SGD(params)", lambda v, f: tg.SGD(v), ("params",)),
        Case("SGD(lr)", lambda v, f: tg.SGD(params(), lr=v), ("lr",)),
        Case("SGD(momentum)", lambda v, f: tg.SGD(params(), momentum=v), ("momentum",)),
        Case("bce_with_logits(logits)", lambda v, f: tg.bce_with_logits(v, 1.0), ("logits",)),
        Case(
            "bce_with_logits(targets)",
            lambda v, f: tg.bce_with_logits(LOGITS, v),
            ("targets",),
            lambda v, result: np.isclose(result[0], np.log(2.0)) and np.all(np.isfinite(result[1])),
        ),  # fmt: skip
        Case("discriminator_loss(logits_real)", lambda v, f: tg.discriminator_loss(v, LOGITS), ("logits_real",)),
        Case("discriminator_loss(logits_fake)", lambda v, f: tg.discriminator_loss(LOGITS, v), ("logits_fake",)),
        Case(
            "discriminator_loss(real_target)",
            lambda v, f: tg.discriminator_loss(LOGITS, LOGITS, v),
            ("real_target",),
            lambda v, result: np.isclose(result[0], 2 * np.log(2.0)),
        ),  # at logit 0 each half is log 2, any target
        Case("generator_loss(logits_fake)", lambda v, f: tg.generator_loss(v), ("logits_fake",)),
        Case("generator_loss(kind)", lambda v, f: tg.generator_loss(LOGITS, v), ("generator loss",)),
        Case("save_checkpoint(gan)", lambda v, f: tg.save_checkpoint(v, f["out"]), ("gan",)),
        Case("save_checkpoint(path)", lambda v, f: tg.save_checkpoint(small_gan(), v), ("path", "checkpoint")),
        Case("load_checkpoint(path)", lambda v, f: tg.load_checkpoint(v), ("path", "checkpoint")),
        Case("load_checkpoint(data)", lambda v, f: tg.load_checkpoint(f["checkpoint"], v), ("data",)),
        Case("load_checkpoint(config)", lambda v, f: tg.load_checkpoint(f["checkpoint"], config=v), ("config",)),
        Case("set_backend(name)", lambda v, f: tg.set_backend(v), ("backend",)),
        Case("train(gan)", lambda v, f: tg.train(v, progress=False), ("gan",)),
        Case("train(steps)", lambda v, f: tg.train(small_gan(), v, progress=False), ("steps",)),
        Case("train(log_every)", lambda v, f: tg.train(small_gan(), 1, log_every=v, progress=False), ("log_every",)),
        Case(
            "train(eval_size)",
            lambda v, f: tg.train(small_gan(), 1, eval_size=v, progress=False),
            ("eval_size", "points need"),
        ),  # fmt: skip
        Case("train(threads)", lambda v, f: tg.train(small_gan(), 1, threads=v, progress=False), ("threads",)),
        Case("train(callback)", lambda v, f: tg.train(small_gan(), 1, callback=v, progress=False), ("callback",)),
        Case("energy_distance(x)", lambda v, f: metrics.energy_distance(v, np.zeros((3, 2))), ("x",)),
        Case("mode_statistics(points)", lambda v, f: metrics.mode_statistics(v, tg.mixture("two")), ("samples",)),
    ]
    + [
        Case(
            f"GANConfig({field.name}).validate()",
            (lambda name: lambda v, f: tg.GANConfig(**{name: v}).validate())(field.name),
            (field.name,),
        )  # fmt: skip
        for field in dataclasses.fields(tg.GANConfig)
    ]
)


def check(case: Case, value: Any, files: dict[str, str]) -> None:
    """The property: the call returns, or refuses with TypeError/ValueError naming the argument."""
    tg.set_backend("numpy")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. NumPy's ComplexWarning: a warning is not a failure
            result = case.call(value, files)
    except (TypeError, ValueError) as error:
        message = str(error)
        assert any(name in message for name in case.names), f"{case.label} <- {value!r:.60}: {message}"
    else:
        assert case.correct(value, result), f"{case.label} <- {value!r:.60} returned a wrong result"
    finally:
        tg.set_backend("numpy")
        if os.path.exists(files["out"]):
            os.remove(files["out"])


@pytest.mark.parametrize("case", CASES, ids=[case.label for case in CASES])
def test_every_usual_mistake_is_refused_by_name(case, files):
    for value in POOL.values():
        check(case, value, files)


values = st.one_of(
    st.sampled_from(list(POOL.values())),
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.floats(allow_nan=True), max_size=4),
    st.lists(st.lists(st.integers(-3, 3), max_size=3), max_size=3),
    hnp.arrays(
        st.sampled_from([np.float32, np.float64, np.int64, np.bool_, np.complex64]),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
    ),
)


@settings(max_examples=300, deadline=None)
@given(case=st.sampled_from(CASES), value=values)
def test_random_values_are_refused_by_name(case, value, files):
    check(case, value, files)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("TINYGAN_LONG_FUZZ"), reason="set TINYGAN_LONG_FUZZ=1 for the long fuzz")
@settings(max_examples=5000, deadline=None)
@given(case=st.sampled_from(CASES), value=values)
def test_random_values_are_refused_by_name_long(case, value, files):
    check(case, value, files)


def test_discriminate_takes_points_as_any_real_array_or_lists_and_names_x_otherwise():
    gan = tg.GAN(tg.mixture("two"), {"hidden": 8, "batch_size": 16, "steps": 2}, seed=0)
    points = [[0.5, -1.0], [2.0, 2.0]]
    expected = gan.discriminate(np.array(points, dtype=np.float32))
    assert np.array_equal(gan.discriminate(points), expected)  # lists, as data is accepted
    assert np.array_equal(gan.discriminate(np.array(points)), expected)  # float64
    with pytest.raises(TypeError, match="x must hold real numbers"):
        gan.discriminate([["a", "b"]])
    with pytest.raises(ValueError, match=r"x must be an array of points \(n, 2\)"):
        gan.discriminate([[1.0, 2.0], [3.0]])


def test_a_mixture_in_a_dtype_its_sampler_cannot_draw_is_refused_by_name():
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        tg.mixture("two", dtype=np.float16)
