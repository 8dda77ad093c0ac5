"""Fuzz the live view's inputs: the command line, the trainer's setters and the page's callbacks.

Hypothesis sends every input the kinds of value a browser, a script or a typo can produce (None,
bools, strings, NaN, inf, huge and negative numbers, lists, dicts). The properties, for each:
nothing escapes as an exception; a refused value leaves the trainer's settings and data as they
were and says why (one ``error:`` line on the command line, the page's message on the page); an
accepted value takes effect. The command line runs in-process with ``serve`` replaced, so nothing
is served. The page is a LivePage on a Bokeh Document, no browser: its callbacks are triggered as
the server triggers them when the browser changes a widget.
"""

from __future__ import annotations

import base64
import contextlib
import io
import math
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_live import bokeh_or_skip  # a skip naming the extra, or a failure under TINYGAN_REQUIRE_BOKEH=1

from tinygan.evaluation.data import MIXTURES, EmpiricalData
from tinygan.live import cli, require_bokeh
from tinygan.live.trainer import BRUSH_POINTS, LOSSES, LiveTrainer, live_config

SMALL = {"batch_size": 32, "hidden": 8}
TIMEOUT = 20.0
FEW = settings(max_examples=40)

ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.integers(-3, 40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-6.0, 61.0),
    st.text(max_size=12),
    st.sampled_from([*MIXTURES, "your points", *LOSSES]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


def real(value) -> bool:
    """The oracle's own idea of a number a control may take: int or float, not bool, finite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def within(value, low, high, *, whole: bool = False) -> bool:
    return real(value) and low <= value <= high and (not whole or value == int(value))


# ---------------------------------------------------------------------- the command line
NUMERIC_FLAGS = {"--seed": (int, 0, 2**31 - 1), "--fps": (float, 0.5, 60), "--port": (int, 0, 65535),
                 "--threads": (int, 1, 256)}  # fmt: skip
FLAG_TEXT = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)


def run_cli(argv: list[str]) -> tuple[int, str, list]:
    """(exit status, stderr, what serve was given) of the command line, run in-process and never serving."""
    served: list = []
    stderr = io.StringIO()
    with mock.patch.object(cli, "serve", lambda args, make_trainer: served.append((args, make_trainer))):
        with contextlib.redirect_stderr(stderr):
            try:
                status = cli.main(argv)
            except SystemExit as stop:
                status = stop.code
    return status, stderr.getvalue(), served


def bokeh_missing() -> str | None:
    try:
        require_bokeh()
    except ImportError as error:
        return str(error)
    return None


def assert_refused(status, err: str, served: list, *words: str) -> None:
    assert status == 2 and not served, f"accepted: {err!r}"
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert all(word in err for word in words), err


@FEW
@given(flag=st.sampled_from(sorted(NUMERIC_FLAGS)), text=FLAG_TEXT)
def test_a_numeric_flag_is_served_or_refused_in_one_line(flag, text):
    kind, low, high = NUMERIC_FLAGS[flag]
    try:
        expected = kind(text)
    except ValueError:
        expected = None
    status, err, served = run_cli([f"{flag}={text}", "--no-browser", "--backend", "numpy", "--out", "runs/live"])
    if expected is None or not within(expected, low, high):
        assert_refused(status, err, served, flag)
    elif (missing := bokeh_missing()) is not None:
        assert_refused(status, err, served, missing)
    else:
        assert status == 0 and err == "" and len(served) == 1
        assert getattr(served[0][0], flag[2:]) == expected


@FEW
@given(rows=st.lists(st.lists(st.floats(-1e6, 1e6) | st.just(math.nan), min_size=1, max_size=3), max_size=6),
       header=st.booleans())  # fmt: skip
def test_data_is_refused_before_serving_unless_the_page_can_show_it(tmp_path_factory, rows, header):
    path = tmp_path_factory.mktemp("data") / "points.csv"
    lines = (["x,y"] if header else []) + [",".join(repr(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    status, err, served = run_cli(["--data", str(path), "--no-browser", "--backend", "numpy"])
    width = {len(row) for row in rows}
    values = [v for row in rows for v in row]
    float32 = all(v == 0 or np.float32(v) != 0 for v in values)  # no value becomes 0 in float32
    showable = width == {2} and len(rows) >= 2 and all(math.isfinite(v) for v in values) and float32
    if not showable:
        assert_refused(status, err, served)
    elif bokeh_missing() is None:
        assert status == 0 and len(served) == 1
        trainer = served[0][1]()  # the page's trainer, built as each tab builds it (not started)
        assert trainer.data.points.shape == (len(rows), 2)


# ---------------------------------------------------------------------- the trainer's setters
@pytest.fixture(scope="module")
def trainer():
    trainer = LiveTrainer("two", config=live_config(**SMALL)).start()
    yield trainer
    trainer.stop()


def current(trainer: LiveTrainer) -> dict:
    """The trainer's settings once every request sent so far has run."""
    return trainer.call(lambda gan: trainer.settings(), TIMEOUT)


SETTERS = {  # setter: (accepts the value?, the setting it changes)
    "set_learning_rate": (lambda v: real(v) and 0 < v <= 1, "lr"),
    "set_d_steps": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 100, "d_steps"),
    "set_loss": (lambda v: isinstance(v, str) and v in LOSSES, "loss"),
    "set_fps": (lambda v: within(v, 0.5, 60), "fps"),
    "set_slow_motion": (lambda v: isinstance(v, bool), "slow_motion"),
}


@FEW
@given(setter=st.sampled_from(sorted(SETTERS)), value=ANYTHING)
def test_a_setter_takes_a_good_value_and_refuses_any_other_naming_it(trainer, setter, value):
    accepts, key = SETTERS[setter]
    before = current(trainer)
    if accepts(value):
        getattr(trainer, setter)(value).result(TIMEOUT)
        assert current(trainer) == {**before, key: value}
    else:
        with pytest.raises(ValueError, match="must be"):
            getattr(trainer, setter)(value)
        assert current(trainer) == before


# ---------------------------------------------------------------------- the page's callbacks
@pytest.fixture(scope="module")
def page(trainer):
    bokeh_or_skip()
    from bokeh.document import Document

    from tinygan.live.app import LivePage

    return LivePage(Document(), trainer)


CONTROLS = {  # widget name: (property, accepts the value?, expected settings change for an accepted value)
    "lr": ("value_throttled", lambda v: within(v, -5, -2), lambda v: {"lr": pytest.approx(10.0**v)}),
    "d_steps": ("value", lambda v: within(v, 1, 10, whole=True), lambda v: {"d_steps": int(v)}),
    "loss": ("value", lambda v: isinstance(v, str) and v in LOSSES, lambda v: {"loss": v}),
    "fps": ("value_throttled", lambda v: within(v, 1, 30), lambda v: {"fps": float(v)}),
    "slow": ("active", lambda v: isinstance(v, bool), lambda v: {"slow_motion": v}),
    "data": (
        "value",
        lambda v: isinstance(v, str) and v in [*MIXTURES, "your points"],
        lambda v: {"data": v} if v in MIXTURES else {},
    ),  # fmt: skip
    "seed": ("value", lambda v: within(v, 0, 2**31 - 1, whole=True), lambda v: {}),  # only reset reads it
}


def browser_sets(widget, attr: str, value) -> None:
    """What the server does with a browser's change: a value of the property's type is set (and its
    callbacks run, if it changed); any other is triggered directly, as a hostile client's might be. A
    slider's knob (value) moves with value_throttled, as it does in the browser."""
    if attr == "value_throttled" and widget.lookup("value").property.is_valid(value):
        widget.value = value
    old = getattr(widget, attr)
    prop = widget.lookup(attr).property
    if prop.is_valid(value) and not prop.matches(value, old):  # Bokeh's own test of "changed"
        widget.set_from_json(attr, value)
    else:
        widget.trigger(attr, old, value)


@FEW
@given(name=st.sampled_from(sorted(CONTROLS)), value=ANYTHING)
def test_a_control_takes_a_good_value_and_refuses_any_other_on_the_page(page, name, value):
    attr, accepts, change = CONTROLS[name]
    widget = getattr(page, name)
    shown = "value" if attr == "value_throttled" else attr
    old = getattr(widget, shown)
    page.note = page.message.text = ""
    before = current(page.trainer)
    browser_sets(widget, attr, value)
    after = current(page.trainer)
    assert not page._logged, "an unexpected error reached the log"
    if accepts(value):
        assert page.message.text == "" and after == {**before, **change(value)}
    else:
        assert page.message.text.startswith("error: ") and "must be" in page.message.text
        assert after == before and getattr(widget, shown) == old  # the widget shows the old value again


@FEW
@given(x=ANYTHING, y=ANYTHING)
def test_a_tap_adds_points_only_at_two_finite_coordinates(page, x, y):
    from bokeh.events import Tap

    page.draw.active = True
    page.note = page.message.text = ""
    data = page.trainer.call(lambda gan: gan.data, TIMEOUT)
    page.plot._trigger_event(Tap(page.plot, x=x, y=y))  # what Bokeh does with a click on the plot
    now = page.trainer.call(lambda gan: gan.data, TIMEOUT)
    assert not page._logged
    if real(x) and real(y) and max(abs(x), abs(y)) < 1e30:  # float32 holds the drawn points
        assert page.message.text == "" and now is not data
        np.testing.assert_allclose(now.points[-BRUSH_POINTS:].mean(axis=0), [float(x), float(y)], rtol=1e-5, atol=0.5)
        if len(now.points) > 4 * BRUSH_POINTS:
            page.trainer.clear_points()  # keep the data small: the next click draws from scratch
    elif not (real(x) and real(y)):
        assert "a drawn point must be two finite numbers" in page.message.text and now is data


@FEW
@given(
    name=st.sampled_from(["mine.csv", "mine.npy", "mine.txt", "", "../../etc/passwd.csv"]),
    content=st.one_of(
        st.binary(max_size=64),
        st.lists(st.lists(st.floats(-100, 100), min_size=1, max_size=3), max_size=5).map(
            lambda rows: "\n".join(",".join(repr(v) for v in row) for row in rows).encode()
        ),
    ),
)
def test_an_upload_is_taken_or_refused_with_the_data_kept(page, name, content):
    page.note = page.message.text = ""
    page.last_upload = None
    data = page.trainer.call(lambda gan: gan.data, TIMEOUT)
    page.upload.set_from_json("filename", name)
    page.upload.set_from_json("value", base64.b64encode(content).decode())
    page.guarded(page.read_upload)()  # what the next tick does after the browser sent both
    now = page.trainer.call(lambda gan: gan.data, TIMEOUT)
    assert not page._logged
    if page.message.text:
        assert page.message.text.startswith("error: ") and now is data
    elif name and content:
        assert isinstance(now, EmpiricalData) and now is not data and now.points.shape[1] == 2
