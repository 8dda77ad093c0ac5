"""The live view: the GAN's half steps, the trainer thread, the command line, and the page in a real browser.

The page's tests need Bokeh: they skip when it is missing, unless TINYGAN_REQUIRE_BOKEH=1 (as in CI),
which makes a missing Bokeh a failure. The browser tests drive headless Chromium through Playwright.
They skip when Playwright, Bokeh or Chromium is missing, unless TINYGAN_REQUIRE_BROWSER=1 (as in CI),
which makes a missing one a failure.
Chromium is looked up at $TINYGAN_CHROMIUM, else `chromium` on the PATH, else /usr/bin/chromium.
TINYGAN_LIVE_SCREENSHOT=PATH saves the page, after 3000 steps, to PATH (docs/images/live.png).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import tinygan as tg
from tinygan.evaluation.data import EmpiricalData
from tinygan.live import require_bokeh
from tinygan.live.trainer import BRUSH_POINTS, LiveTrainer, live_config
from tinygan.outputs import OutputPlan

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"batch_size": 64, "hidden": 16}  # a quick model for the trainer tests
TIMEOUT = 20.0  # seconds any wait in these tests may take before it fails


def bokeh_or_skip() -> None:
    """Bokeh >= 3.4, or a skip naming the extra (a failure under TINYGAN_REQUIRE_BOKEH=1)."""
    try:
        require_bokeh()
    except ImportError as error:
        if os.environ.get("TINYGAN_REQUIRE_BOKEH") == "1":
            pytest.fail(f"TINYGAN_REQUIRE_BOKEH=1 but {error}")
        pytest.skip(str(error))


def wait_until(condition, timeout: float = TIMEOUT, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# ---------------------------------------------------------------------- the GAN's half steps
def test_a_d_step_then_a_g_step_is_exactly_one_train_step():
    config = tg.GANConfig(batch_size=32, hidden=8, d_steps=1)
    whole, halves = tg.GAN(tg.mixture("two"), config, seed=4), tg.GAN(tg.mixture("two"), config, seed=4)
    for _ in range(3):
        whole.train_step()
        halves.step_discriminator()
        halves.step_generator()
    np.testing.assert_array_equal(whole.D.flat.data, halves.D.flat.data)
    np.testing.assert_array_equal(whole.G.flat.data, halves.G.flat.data)
    assert whole.step == halves.step == 3


def test_a_d_step_leaves_g_alone_and_a_g_step_leaves_d_alone():
    gan = tg.GAN(tg.mixture("two"), tg.GANConfig(batch_size=32, hidden=8), seed=0)
    g_before, d_before = gan.G.flat.data.copy(), gan.D.flat.data.copy()
    gan.step_discriminator()
    np.testing.assert_array_equal(gan.G.flat.data, g_before)
    assert not np.array_equal(gan.D.flat.data, d_before) and gan.step == 0
    d_after = gan.D.flat.data.copy()
    gan.step_generator()
    np.testing.assert_array_equal(gan.D.flat.data, d_after)
    assert not np.array_equal(gan.G.flat.data, g_before) and gan.step == 1


# ---------------------------------------------------------------------- the trainer thread
@pytest.fixture
def trainer():
    trainer = LiveTrainer("two", config=live_config(**SMALL)).start()
    yield trainer
    trainer.stop()
    assert not trainer.alive


def test_play_trains_pause_stops_and_frames_follow(trainer):
    trainer.play().result(TIMEOUT)
    wait_until(lambda: (frame := trainer.latest_frame()) is not None and frame.step > 5, what="training")
    trainer.pause().result(TIMEOUT)
    step = trainer.call(lambda gan: gan.step)
    time.sleep(0.3)
    assert trainer.call(lambda gan: gan.step) == step
    frame = wait_until(lambda: (f := trainer.latest_frame()) and f.step == step and not f.playing and f, what="frame")
    assert frame.heatmap.shape == (48, 48) and np.all((frame.heatmap >= 0) & (frame.heatmap <= 1))
    assert np.all(np.isfinite(frame.fake)) and frame.arrows.shape == (100, 2) and frame.history_length >= 1


def test_settings_reach_the_model(trainer):
    trainer.set_learning_rate(1e-3).result(TIMEOUT)
    trainer.set_loss("minimax").result(TIMEOUT)
    trainer.set_d_steps(3).result(TIMEOUT)
    assert trainer.call(lambda gan: (gan.config.lr, gan.config.loss, gan.config.d_steps)) == (1e-3, "minimax", 3)
    trainer.step_both().result(TIMEOUT)
    assert trainer.call(lambda gan: (gan.opt_D.lr, gan.opt_D.step_count, gan.opt_G.step_count)) == (1e-3, 3, 1)


def test_three_d_steps_on_the_fused_numba_step():
    tg.set_backend("numba")
    trainer = LiveTrainer("two", config=live_config(**SMALL)).start()
    try:
        trainer.set_d_steps(3).result(TIMEOUT)
        trainer.step_both().result(60)  # the first fused call may compile
        assert trainer.call(lambda gan: (gan.fused is not None, gan.opt_D.step_count)) == (True, 3)
        trainer.set_d_steps(1).result(TIMEOUT)
        trainer.step_both().result(TIMEOUT)
        assert trainer.call(lambda gan: gan.opt_D.step_count) == 4
    finally:
        trainer.stop()


def test_drawn_points_join_the_data_and_the_model_keeps_its_weights(trainer):
    weights = trainer.call(lambda gan: gan.G.flat.data.copy())
    trainer.add_points((0.0, 5.0)).result(TIMEOUT)
    data = trainer.call(lambda gan: gan.data)
    assert isinstance(data, EmpiricalData) and len(data.points) == 1000 + BRUSH_POINTS
    np.testing.assert_allclose(data.points[-BRUSH_POINTS:].mean(axis=0), [0.0, 5.0], atol=0.5)
    np.testing.assert_array_equal(trainer.call(lambda gan: gan.G.flat.data), weights)
    trainer.clear_points().result(TIMEOUT)
    trainer.add_points((1.0, 1.0)).result(TIMEOUT)
    assert len(trainer.call(lambda gan: gan.data.points)) == BRUSH_POINTS  # drawn from scratch


def test_reset_and_presets_give_fresh_networks(trainer):
    trainer.step_both().result(TIMEOUT)
    trainer.reset(seed=5).result(TIMEOUT)
    assert trainer.call(lambda gan: (gan.step, gan.seed)) == (0, 5)
    trainer.use_preset("grid25").result(TIMEOUT)
    assert trainer.call(lambda gan: (gan.step, gan.config.data_scale, len(gan.data.means))) == (0, 4.0, 25)


def test_save_writes_a_checkpoint_and_pictures(tmp_path):
    trainer = LiveTrainer("two", config=live_config(**SMALL), out=tmp_path / "saved").start()
    try:
        trainer.step_both().result(TIMEOUT)
        paths = trainer.save().result(60)
    finally:
        trainer.stop()
    assert [Path(p).name for p in paths] == ["checkpoint.npz", "discriminator.png", "contours.png", "losses.png"]
    assert all(Path(p).stat().st_size > 0 for p in paths)
    assert tg.load_checkpoint(paths[0], tg.mixture("two")).step == 1


def test_save_goes_through_the_output_layer(tmp_path):
    """A file in --out that tinygan did not write is refused, not replaced; a save that writes fewer
    files than the folder's previous one (no losses.png before two records) removes the stale one."""
    out = tmp_path / "saved"
    out.mkdir()
    (out / "contours.png").write_text("a user's file")
    trainer = LiveTrainer("two", config=live_config(**SMALL), out=out).start()
    try:
        with pytest.raises(ValueError, match="contours.png"):
            trainer.save().result(60)
        assert (out / "contours.png").read_text() == "a user's file" and not (out / "checkpoint.npz").exists()
        (out / "contours.png").unlink()
        previous = OutputPlan()  # a previous save that wrote losses.png ...
        previous.folder(out, ["losses.png"])
        previous.check()
        previous.write("losses.png", lambda file: file.write(b"png"))
        previous.finish()
        paths = trainer.save().result(60)
    finally:
        trainer.stop()
    assert [Path(p).name for p in paths] == ["checkpoint.npz", "discriminator.png", "contours.png"]
    assert not (out / "losses.png").exists()  # ... the save without one removed it


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.set_learning_rate(-1.0), "learning rate must be"),
        (lambda t: t.set_learning_rate(float("nan")), "learning rate must be"),
        (lambda t: t.set_d_steps(0), "d_steps must be"),
        (lambda t: t.set_loss("wasserstein"), "loss must be one of"),
        (lambda t: t.set_fps(0), "fps must be"),
        (lambda t: t.reset(seed=-1), "seed must be"),
        (lambda t: t.use_preset("ring9"), "mixture must be one of"),
        (lambda t: t.add_points((float("nan"), 0.0)), "a drawn point must be two finite numbers"),
        (lambda t: t.add_points((1.0,)), "a drawn point must be two finite numbers"),
    ],
)
def test_bad_requests_are_refused_before_they_reach_the_model(trainer, call, message):
    with pytest.raises(ValueError, match=message):
        call(trainer)


def test_points_that_are_not_empirical_data_are_a_type_error(trainer):
    with pytest.raises(TypeError, match="data must be an EmpiricalData"):
        trainer.use_points(np.zeros((5, 2)))


def test_a_failing_step_pauses_the_trainer_with_a_message_and_it_keeps_serving(trainer, monkeypatch, caplog):
    def broken():
        raise RuntimeError("out of cheese")

    monkeypatch.setattr(trainer.gan, "train_step", broken)
    trainer.play().result(TIMEOUT)
    wait_until(lambda: trainer.message == "error: RuntimeError: out of cheese", what="the error as the message")
    assert trainer.alive and not trainer.playing
    wait_until(lambda: (frame := trainer.latest_frame()) and "out of cheese" in frame.message, what="a frame with it")
    records = [r for r in caplog.records if r.name == "tinygan.live"]
    assert len(records) == 1 and records[0].exc_info is None
    trainer.reset(seed=1).result(TIMEOUT)  # fresh networks, working again
    trainer.step_both().result(TIMEOUT)
    assert trainer.call(lambda gan: gan.step) == 1


def test_points_that_are_not_2d_are_refused_before_anything_changes(trainer):
    line = EmpiricalData(np.arange(10.0)[:, None])  # (10, 1)
    with pytest.raises(ValueError, match=r"shows 2-D points, but the data has 1 column"):
        trainer.use_points(line)
    with pytest.raises(ValueError, match=r"shows 2-D points, but the data has 3 column"):
        LiveTrainer(EmpiricalData(np.zeros((5, 3))))
    assert trainer.call(lambda gan: gan.data.dim) == 2 and trainer.data_name == "two"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.set_learning_rate(2.0), "learning rate must be a number in \\(0, 1\\]"),
        (lambda t: t.set_learning_rate("0.1"), "learning rate must be"),
        (lambda t: t.set_learning_rate(True), "learning rate must be"),
        (lambda t: t.set_d_steps(2.0), "d_steps must be an int"),
        (lambda t: t.set_fps(float("inf")), "fps must be"),
        (lambda t: t.set_slow_motion("yes"), "slow motion must be True or False"),
        (lambda t: t.set_loss(None), "loss must be one of"),
        (lambda t: t.reset(seed=2**31), "seed must be an int in"),
        (lambda t: t.add_points(("a", 1.0)), "a drawn point must be two finite numbers"),
        (lambda t: t.add_points(None), "a drawn point must be two finite numbers"),
    ],
)
def test_setters_refuse_wrong_types_and_ranges_naming_the_control(trainer, call, message):
    before = trainer.call(lambda gan: trainer.settings())
    with pytest.raises(ValueError, match=message):
        call(trainer)
    assert trainer.call(lambda gan: trainer.settings()) == before


# ---------------------------------------------------------------------- the page, on a Document (no browser)
@pytest.fixture
def page(trainer):
    bokeh_or_skip()
    from bokeh.document import Document

    from tinygan.live.app import LivePage

    return LivePage(Document(), trainer)


def upload(page, name: str, raw: bytes) -> None:
    """What the browser does: set the file's name and base64 content, then the page reads it on the next tick."""
    page.upload.set_from_json("filename", name)
    page.upload.set_from_json("value", base64.b64encode(raw).decode())
    page.guarded(page.read_upload)()


def test_a_refused_upload_keeps_the_data_and_says_why_on_the_page(page):
    from tinygan.live.app import MAX_UPLOAD_BYTES

    upload(page, "line.csv", b"1\n2\n3\n")
    assert page.message.text.startswith("error: ") and "2-D points" in page.message.text
    upload(page, "huge.csv", b"1,2\n" * (MAX_UPLOAD_BYTES // 4 + 1))
    assert "huge.csv is 5.0 MiB; the page takes files up to 5 MiB" in page.message.text
    assert page.trainer.call(lambda gan: (page.trainer.data_name, type(gan.data).__name__)) == (
        "two",
        "GaussianMixture",
    )
    upload(page, "mine.csv", b"x,y\n0,0\n1,1\n2,0\n")
    assert page.trainer.call(lambda gan: len(gan.data.points)) == 3 and page.note == ""


def test_refused_control_values_are_put_back_and_shown(page):
    before = page.trainer.call(lambda gan: page.trainer.settings())
    page.d_steps.trigger("value", 1, 50)
    assert page.d_steps.value == 1 and "D steps per G step must be a whole number in [1, 10]" in page.message.text
    shown = page.lr.value
    page.lr.trigger("value_throttled", shown, -1.0)
    assert page.lr.value == shown and "learning rate (log10) must be a number in [-5, -2]" in page.message.text
    page.loss.trigger("value", "nonsaturating", "wasserstein")
    assert page.loss.value == "nonsaturating" and "generator loss must be one of" in page.message.text
    assert page.trainer.call(lambda gan: page.trainer.settings()) == before
    page.d_steps.trigger("value", 1, 4)  # an accepted value clears the message at the next frame
    assert page.trainer.call(lambda gan: gan.config.d_steps) == 4 and page.note == ""


def test_an_unexpected_error_in_a_callback_is_one_log_line_and_a_message(page, monkeypatch, caplog):
    from bokeh.events import ButtonClick

    def broken():
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(page.trainer, "save", broken)
    for _ in range(3):
        page.save._trigger_event(ButtonClick(page.save))
    records = [r for r in caplog.records if r.name == "tinygan.live"]
    assert len(records) == 1 and records[0].exc_info is None and "RuntimeError" in records[0].getMessage()
    assert "the disk is on fire" in page.message.text


# ---------------------------------------------------------------------- the command line
def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "tinygan.live", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fps", "0"], "--fps must be in"),
        (["--port", "70000"], "--port must be in"),
        (["--mixture", "ring9"], "invalid choice"),
        (["--data", "no/such/file.csv"], "data file 'no/such/file.csv' does not exist"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(args, message):
    result = run_cli(*args, "--no-browser")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_cli_checks_user_data_like_the_demo(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("x,y\n1,2\n3,nan\n")
    result = run_cli("--data", str(path), "--no-browser")
    expected = f"error: --data {path}: data file {str(path)!r}, line 3, column 2: 'nan' is not finite\n"  # flag, loader
    assert result.returncode == 2 and result.stderr == expected


def refusal(capsys, argv: list[str]) -> str:
    """The live command line run in-process (never serving): it must refuse with exit 2 and one line."""
    from tinygan.live import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2 and out == "" and err.count("\n") == 1 and err.startswith("error: ")
    return err


def test_cli_refuses_data_that_is_not_2d_before_serving(tmp_path, capsys):
    path = tmp_path / "line.csv"
    path.write_text("1\n2\n3\n")
    message = refusal(capsys, ["--data", str(path), "--no-browser"])
    assert message.startswith(f"error: --data {path}: ") and "shows 2-D points, but the data has 1 column" in message


def test_cli_refuses_an_out_it_cannot_write_into(tmp_path, capsys):
    a_file = tmp_path / "taken"
    a_file.write_text("")
    assert "is a file, not a folder" in refusal(capsys, ["--out", str(a_file), "--no-browser"])
    assert "cannot be created" in refusal(capsys, ["--out", str(a_file / "sub"), "--no-browser"])
    assert "must name a folder" in refusal(capsys, ["--out", "", "--no-browser"])


def test_a_missing_bokeh_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "bokeh", None)  # `import bokeh` now raises ImportError
    with pytest.raises(ImportError, match=re.escape('pip install -e ".[live]"')):
        require_bokeh()


def test_server_binds_localhost_and_stops_cleanly_on_ctrl_c():
    bokeh_or_skip()
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "tinygan.live", "--no-browser", "--port", "0", "--backend", "numpy"]
    # Python raises KeyboardInterrupt on SIGINT only if SIGINT was not ignored when it started, and a job
    # launched in the background (nohup ... &) passes SIG_IGN on: give the server the default, as a terminal would.
    restore_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                               preexec_fn=restore_sigint)  # fmt: skip
    try:
        line = process.stdout.readline()  # "tinygan live: open http://127.0.0.1:PORT/  (Ctrl-C stops)"
        match = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
        assert match, f"no address in {line!r}"
        with urllib.request.urlopen(match.group(1), timeout=TIMEOUT) as response:
            assert response.status == 200 and b"bokeh" in response.read().lower()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0 and "stopped" in out and "Traceback" not in err


# ---------------------------------------------------------------------- the page, in a real browser
def browser_or_skip() -> str:
    """The Chromium executable, or a skip (a failure under TINYGAN_REQUIRE_BROWSER=1) naming what is missing."""
    if os.environ.get("TINYGAN_REQUIRE_BOKEH") == "1":
        bokeh_or_skip()  # fails, naming Bokeh
    missing = None
    try:
        require_bokeh()
        import playwright.sync_api  # noqa: F401
    except ImportError as error:
        missing = f"{error} (and Playwright: pip install playwright)" if "bokeh" in str(error).lower() else str(error)
    chromium = os.environ.get("TINYGAN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if missing is None and not os.path.isfile(chromium):
        missing = f"no Chromium at {chromium} (apt-get install chromium, or set TINYGAN_CHROMIUM)"
    if missing is not None:
        if os.environ.get("TINYGAN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"TINYGAN_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    return chromium


class Page:
    """One browser tab on a live server, with the handles the tests need."""

    def __init__(self, server, page) -> None:
        self.server, self.page = server, page

    @property
    def trainer(self) -> LiveTrainer:
        return self.server.trainers[-1]

    def js(self, code: str):
        return self.page.evaluate(code)

    def status(self) -> str:
        return self.js("() => Bokeh.documents[0].get_model_by_name('status').text")

    def shown_step(self) -> int:
        match = re.search(r"step (\d+)", self.status())
        return int(match.group(1)) if match else -1

    def button(self, label: str):
        return self.page.get_by_role("button", name=label, exact=True)

    def pause(self) -> None:
        self.trainer.pause().result(TIMEOUT)
        wait_until(lambda: "paused" in self.status(), what="the page to show 'paused'")


@pytest.fixture(scope="module")
def live():
    chromium = browser_or_skip()
    from playwright.sync_api import sync_playwright

    from tinygan.live.app import LiveServer

    server = LiveServer(port=0, make_trainer=lambda: LiveTrainer("two", config=live_config(batch_size=128)))
    server.start_in_thread()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium)
            try:
                page = browser.new_page(viewport={"width": 1320, "height": 900})
                page.set_default_timeout(TIMEOUT * 1000)
                page.goto(server.url)
                page.wait_for_function(
                    "() => window.Bokeh && Bokeh.documents.length > 0 && "
                    "Bokeh.documents[0].get_model_by_name('heatmap_source').data.image.length > 0",
                    timeout=60_000,
                )
                yield Page(server, page)
            finally:
                browser.close()
    finally:
        server.stop()


def test_page_renders_a_heatmap(live, tmp_path):
    box = live.js("""() => {
        const view = Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name('main'));
        const frame = view.frame.bbox, host = view.el.getBoundingClientRect();
        return {x: host.left + frame.left, y: host.top + frame.top, width: frame.width, height: frame.height};
    }""")
    path = tmp_path / "plot.png"
    live.page.screenshot(path=str(path), clip=box)
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)  # (h, w, 3)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 300
    colors = {tuple(p) for p in pixels[::4, ::4].reshape(-1, 3).astype(int)}
    assert pixels.std() > 20 and len(colors) > 50, "the plot is blank"
    # the heatmap's colours: the palette drawn at alpha 0.85 over white
    from bokeh.palettes import RdBu11

    palette = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in RdBu11], dtype=np.float64)  # (11, 3)
    drawn = 0.85 * palette + 0.15 * 255
    distance = np.linalg.norm(pixels[::2, ::2, None, :] - drawn[None, None], axis=-1)  # (h/2, w/2, 11)
    nearest = distance.argmin(-1)[distance.min(-1) < 8]  # palette index of every heatmap pixel
    assert nearest.size > 0.3 * distance[..., 0].size, "the heatmap covers less than 30% of the plot"
    assert len(np.unique(nearest)) >= 2, "the heatmap is a single colour"


def test_play_advances_the_step_count_and_pause_stops_it(live):
    live.button("play").click()
    wait_until(lambda: live.shown_step() > 20, what="the page's step count to advance")
    wait_until(lambda: "training" in live.status(), what="'training' on the page")
    live.button("pause").click()
    wait_until(lambda: "paused" in live.status(), what="'paused' on the page")
    step = live.shown_step()
    time.sleep(1.0)
    assert live.shown_step() == step == live.trainer.call(lambda gan: gan.step)


def test_a_changed_learning_rate_reaches_the_trainer(live):
    before = live.trainer.call(lambda gan: gan.config.lr)
    handle = live.page.locator(".noUi-handle").first  # the learning-rate slider's (log10 lr in steps of 0.05)
    handle.focus()
    for _ in range(4):
        handle.press("ArrowRight")
    slider = "() => Bokeh.documents[0].get_model_by_name('lr').value_throttled"
    wait_until(lambda: live.js(slider) > -3.6, what="the slider to move")
    shown = live.js(slider)
    expected = 10.0**shown  # the slider snaps to its grid: -3.699 (2e-4) + 4 steps is -3.5
    assert expected > 1.5 * before
    wait_until(lambda: abs(live.trainer.call(lambda gan: gan.config.lr) / expected - 1) < 1e-6, what="the new lr")
    live.trainer.step_both().result(TIMEOUT)
    assert live.trainer.call(lambda gan: gan.opt_G.lr) == pytest.approx(expected)


def test_loss_and_d_steps_reach_the_trainer(live):
    live.page.get_by_label("generator loss").select_option("minimax")
    spinner = live.page.get_by_label("D steps per G step")
    spinner.fill("2")
    spinner.press("Enter")
    wait_until(lambda: live.trainer.call(lambda gan: (gan.config.loss, gan.config.d_steps)) == ("minimax", 2),
               what="minimax and 2 D steps")  # fmt: skip
    live.page.get_by_label("generator loss").select_option("nonsaturating")
    spinner.fill("1")
    spinner.press("Enter")
    wait_until(lambda: live.trainer.call(lambda gan: (gan.config.loss, gan.config.d_steps)) == ("nonsaturating", 1),
               what="the defaults back")  # fmt: skip


def test_a_click_adds_data_points_where_it_lands(live):
    live.pause()
    before = len(live.trainer.call(lambda gan: getattr(gan.data, "points", np.zeros((1000, 2)))))
    x0, x1, y0, y1 = live.trainer.window
    live.button("draw: a click adds points").click()
    wait_until(lambda: live.server.pages[-1].draw.active, what="drawing on")
    box = live.js("""() => {
        const view = Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name('main'));
        const frame = view.frame.bbox, host = view.el.getBoundingClientRect();
        return {x: host.left + frame.left, y: host.top + frame.top, width: frame.width, height: frame.height};
    }""")
    fx, fy = 0.25, 0.2  # a quarter across, a fifth down
    live.page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    count = lambda: len(live.trainer.call(lambda gan: getattr(gan.data, "points", [])))  # noqa: E731
    wait_until(lambda: count() == before + BRUSH_POINTS, what="the drawn points")
    points = live.trainer.call(lambda gan: gan.data.points)
    live.button("draw: a click adds points").click()  # drawing off again
    wait_until(lambda: not live.server.pages[-1].draw.active, what="drawing off")
    clicked = [x0 + fx * (x1 - x0), y1 - fy * (y1 - y0)]
    np.testing.assert_allclose(points[-BRUSH_POINTS:].mean(axis=0), clicked, atol=0.05 * (x1 - x0))
    wait_until(lambda: "your points" in live.status(), what="the page to name the data")


def test_step_d_only_leaves_g_unchanged(live):
    live.pause()
    g_before, d_before, step = live.trainer.call(lambda gan: (gan.G.flat.data.copy(), gan.D.flat.data.copy(), gan.step))
    live.button("step D").click()
    wait_until(lambda: not np.array_equal(live.trainer.call(lambda gan: gan.D.flat.data), d_before), what="a D step")
    np.testing.assert_array_equal(live.trainer.call(lambda gan: gan.G.flat.data), g_before)
    assert live.trainer.call(lambda gan: gan.step) == step
    d_after = live.trainer.call(lambda gan: gan.D.flat.data.copy())
    live.button("step G").click()
    wait_until(lambda: live.trainer.call(lambda gan: gan.step) == step + 1, what="a G step")
    np.testing.assert_array_equal(live.trainer.call(lambda gan: gan.D.flat.data), d_after)


def test_an_uploaded_file_is_checked_like_data(live, tmp_path):
    bad = tmp_path / "mine.csv"
    bad.write_text("x,y\n1,2\n3,inf\n")
    live.page.locator("input[type=file]").set_input_files(str(bad))
    message = "Bokeh.documents[0].get_model_by_name('message').text"
    expected = "data file 'mine.csv', line 3, column 2: 'inf' is not finite"  # named as the user named it
    wait_until(lambda: expected in live.js(f"() => {message}"), what="the upload's error on the page")
    good = tmp_path / "mine.npy"
    np.save(good, np.random.default_rng(0).normal(size=(50, 2)))
    live.page.locator("input[type=file]").set_input_files(str(good))
    wait_until(lambda: len(getattr(live.trainer.call(lambda gan: gan.data), "points", [])) == 50, what="the upload")
    assert live.trainer.call(lambda gan: gan.step) == 0  # new data from a file: fresh networks


def test_a_20_mb_upload_is_refused_with_a_message_and_the_page_stays_connected(live, tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(b"1.0,2.0\n" * 2_500_000)  # 20 MB
    data = live.trainer.call(lambda gan: gan.data)
    live.page.locator("input[type=file]").set_input_files(str(big))
    message = "() => Bokeh.documents[0].get_model_by_name('message').text"
    wait_until(lambda: "big.csv is 19.1 MiB; the page takes files up to 5 MiB" in live.js(message), what="the refusal")
    assert live.trainer.call(lambda gan: gan.data) is data
    step = live.trainer.call(lambda gan: gan.step)
    live.pause()
    live.button("step both").click()  # the connection still carries clicks to the server
    # (120 s: run alone, this is the page's first step, and the numba backend compiles it)
    wait_until(lambda: live.shown_step() == step + 1, timeout=120, what="the page to show a step after the refusal")
    wait_until(lambda: "big.csv" not in live.js(message), what="the accepted click to clear the refusal")


def test_an_upload_sent_past_the_browsers_check_gets_the_servers_message(live):
    """A client without the page's size check sends 20 MB (26.7 MB of base64, over Bokeh's default 20 MB
    websocket limit): the connection holds and the server refuses the file by its size, on the page."""
    live.js("""() => Bokeh.documents[0].get_model_by_name('upload').setv(
        {value: 'QUJD'.repeat(6_666_667), filename: 'sent.csv', mime_type: 'text/csv'})""")
    message = "() => Bokeh.documents[0].get_model_by_name('message').text"
    wait_until(lambda: "sent.csv is 19.1 MiB; the page takes files up to 5 MiB" in live.js(message), timeout=60,
               what="the server's refusal")  # fmt: skip
    step = live.trainer.call(lambda gan: gan.step)
    live.pause()
    live.button("step both").click()
    wait_until(lambda: live.shown_step() == step + 1, timeout=120, what="a step after the refusal")


def test_screenshot_for_the_docs(live):
    """Only with TINYGAN_LIVE_SCREENSHOT=PATH: train the article's case 3000 steps, then photograph the page."""
    path = os.environ.get("TINYGAN_LIVE_SCREENSHOT")
    if not path:
        pytest.skip("set TINYGAN_LIVE_SCREENSHOT=docs/images/live.png to update the picture")
    live.page.get_by_label("data", exact=True).select_option("two")
    live.button("reset").click()
    wait_until(lambda: live.trainer.call(lambda gan: gan.step) == 0 and "data: two" in live.status(), what="reset")
    live.button("play").click()
    wait_until(lambda: live.trainer.call(lambda gan: gan.step) >= 3000, timeout=600, what="3000 steps")
    live.pause()
    time.sleep(1.0)
    live.page.screenshot(path=path, clip={"x": 0, "y": 0, "width": 1320, "height": 640})


def test_the_server_shuts_down(live):
    url, trainers = live.server.url, list(live.server.trainers)
    live.server.stop()
    assert not any(t.alive for t in trainers)
    assert live.server._thread is not None and not live.server._thread.is_alive()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)
