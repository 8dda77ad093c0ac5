"""The live view's page: a Bokeh document that shows a LiveTrainer's frames and sends it requests.

One browser tab is one Bokeh session with its own trainer (its own GAN and thread), stopped when
the tab closes. The page never touches the model: every widget calls a LiveTrainer method,
which queues a request for the trainer thread; a periodic callback shows the newest Frame.

    widgets --request--> LiveTrainer (thread: train_step, requests, frames) --Frame--> data sources
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
import math
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from . import require_bokeh

require_bokeh()

import numpy as np  # noqa: E402
from bokeh.application import Application  # noqa: E402
from bokeh.application.handlers.function import FunctionHandler  # noqa: E402
from bokeh.core.property.descriptors import UnsetValueError  # noqa: E402
from bokeh.document import Document  # noqa: E402
from bokeh.events import Tap  # noqa: E402
from bokeh.layouts import column, row  # noqa: E402
from bokeh.models import (  # noqa: E402
    Button,
    ColumnDataSource,
    CustomJS,
    CustomJSTickFormatter,
    Div,
    FileInput,
    LinearColorMapper,
    Range1d,
    Select,
    Slider,
    Span,
    Spinner,
    Toggle,
)
from bokeh.palettes import RdBu11  # noqa: E402
from bokeh.plotting import figure  # noqa: E402
from bokeh.server.server import Server  # noqa: E402
from tornado.ioloop import IOLoop  # noqa: E402

from ..evaluation.data import MIXTURES, EmpiricalData, points_from_bytes  # noqa: E402
from .trainer import LOG4, LOSSES, MAX_SEED, LiveTrainer, check_plane, is_real  # noqa: E402

POLL_MS = 20  # how often the page looks for a new frame
ARROW_LENGTH = 0.05  # an arrow of gradient norm 1 (per sample, data units) is 5% of the view's width
CHART_POINTS = 2000  # the loss charts keep the last 2000 records
CHART_SECONDS = 0.5  # the charts take new records twice a second: redrawing them costs the browser more than a frame
MAX_UPLOAD_BYTES = 5 * 2**20  # the largest file the page accepts (5 MiB: about 200,000 points as .csv)
# Bokeh's websocket drops a message over its limit (20 MB by default) without a word. The browser refuses
# files over MAX_UPLOAD_BYTES before sending; a client that sends one anyway (base64: 4/3 of its size) up
# to 24 MiB still reaches on_upload and gets the page's message rather than a dropped connection.
WEBSOCKET_MAX_BYTES = 32 * 2**20
LR_RANGE = (-5.0, -2.0)  # the learning-rate slider, in log10
D_STEPS_RANGE = (1, 10)
FPS_SLIDER = (1.0, 30.0)
USER_DATA = "your points"  # the data menu's entry for uploaded or drawn points

log = logging.getLogger("tinygan.live")

# Runs in the browser before the file is read: a file over the limit is never sent (the server checks again).
REFUSE_LARGE_FILES = """
const view = Bokeh.index.find_one(upload);
if (view == null || view._size_check) return;
view._size_check = true;
view.input_el.getRootNode().addEventListener("change", (event) => {
  if (event.target !== view.input_el) return;
  const files = Array.from(view.input_el.files || []);
  const big = files.find((file) => file.size > limit);
  if (big === undefined) return;
  event.stopImmediatePropagation();  // Bokeh's own listener would read and send the file
  view.input_el.value = "";
  const mib = (big.size / 2 ** 20).toFixed(1);
  message.text = `error: ${big.name} is ${mib} MiB; the page takes files up to ${limit / 2 ** 20} MiB`;
}, {capture: true});
"""


class LivePage:
    """The widgets, plots and data sources of one tab, bound to one trainer.

    Every callback goes through ``guarded``: a refused value (ValueError, TypeError) becomes the
    message on the page, anything else one line in the server's log, and the trainer keeps the
    settings and data it had. Every control value is checked here against the range its widget
    offers, whatever the browser sent, and again by the trainer's setter.
    """

    def __init__(self, doc: Document, trainer: LiveTrainer) -> None:
        self.doc, self.trainer = doc, trainer
        self.shown_frame, self.shown_history, self.shown_real, self.shown_window = 0, 0, None, None
        self.chart_time = 0.0  # when the charts last took new records
        self.push_times: list[float] = []  # when the last frames reached the document (for frames/s)
        self.note = ""  # a refusal found on this side (bad input), shown until the next accepted request
        self.last_upload: tuple[str, int] | None = None  # the file last read (name, hash of its content)
        self._upload_due = False  # a read_upload is scheduled
        self._syncing = False  # True while the page itself sets a widget: its callback must not send a request
        self._logged: set[str] = set()  # unexpected errors already logged (each once, not every frame)
        main, losses, value = self._build_figures()
        controls = self._build_controls(trainer.settings())
        self._wire_callbacks()
        doc.add_root(row(controls, column(self.status, main), column(losses, value)))
        doc.title = "tinygan live"
        doc.add_periodic_callback(self.guarded(self.show_newest_frame), POLL_MS)

    # ------------------------------------------------------------------ building the page
    def _build_figures(self) -> tuple[Any, Any, Any]:
        """The main picture (D(x), real points, G's manifold, G(z), -dL_G/dx) and the two charts."""
        self.heat = ColumnDataSource({"image": [], "x": [], "y": [], "dw": [], "dh": []}, name="heatmap_source")
        self.real = ColumnDataSource({"x": [], "y": []})
        self.fake = ColumnDataSource({"x": [], "y": []})
        self.manifold = ColumnDataSource({"x": [], "y": []})  # all grid lines in one, NaN between lines
        self.arrows = ColumnDataSource({"x0": [], "y0": [], "x1": [], "y1": []})
        x0, x1, y0, y1 = self.trainer.window
        plot = figure(width=560, height=590, x_range=Range1d(x0, x1), y_range=Range1d(y0, y1),
                      tools="pan,wheel_zoom,reset,save", name="main")  # fmt: skip
        plot.title.text = "D(x) (blue: D calls it real), real points, G(z) and -dL_G/dx"
        palette = RdBu11[::-1]  # red (D = 0, "fake") to blue (D = 1, "real"), as the matplotlib pictures
        plot.image("image", x="x", y="y", dw="dw", dh="dh", source=self.heat, name="heatmap",
                   color_mapper=LinearColorMapper(palette=palette, low=0, high=1), alpha=0.85)  # fmt: skip
        plot.scatter("x", "y", source=self.real, size=3, color="navy", alpha=0.5, legend_label="real")
        plot.line("x", "y", source=self.manifold, color="black", alpha=0.25, line_width=1, legend_label="G's manifold")
        plot.scatter("x", "y", source=self.fake, size=4, color="darkorange", legend_label="generated")
        plot.segment("x0", "y0", "x1", "y1", source=self.arrows, color="black", line_width=1.2,
                     legend_label="-dL_G/dx")  # fmt: skip
        legend = plot.legend[0]
        legend.orientation = "horizontal"
        plot.add_layout(legend, "below")  # outside the plot, where it cannot catch a click meant to draw
        self.plot = plot

        # the losses; V(D, G) beside -log 4 and the JSD estimate
        self.history = ColumnDataSource({"step": [], "d_loss": [], "g_loss": [], "value": [], "jsd": []})
        losses = figure(width=420, height=270, title="losses", x_axis_label="step")
        losses.line("step", "d_loss", source=self.history, color="navy", legend_label="D loss")
        losses.line("step", "g_loss", source=self.history, color="darkorange", legend_label="G loss")
        value = figure(width=420, height=270, title="V(D, G) and the JSD estimate (V + log 4) / 2",
                       x_axis_label="step", x_range=losses.x_range)  # fmt: skip
        value.line("step", "value", source=self.history, color="black", legend_label="V(D, G)")
        value.line("step", "jsd", source=self.history, color="seagreen", legend_label="JSD estimate")
        value.add_layout(Span(location=-LOG4, dimension="width", line_dash="dashed", line_color="gray"))
        for chart in (losses, value):
            chart.legend.location = "top_right"
            chart.legend.background_fill_alpha = 0.6
        return plot, losses, value

    def _build_controls(self, settings: dict[str, Any]) -> Any:
        """The widgets, set to the trainer's settings, in one column; no callbacks yet."""
        self.status = Div(text="", name="status", width=560, height=20)
        self.message = Div(text="", name="message", width=260, height=90)
        self.play = Button(label="play", button_type="success", name="play")
        self.step_d = Button(label="step D", name="step_d")
        self.step_g = Button(label="step G", name="step_g")
        self.step_both = Button(label="step both", name="step_both")
        self.slow = Toggle(label="slow motion", name="slow_motion")
        self.lr = Slider(start=LR_RANGE[0], end=LR_RANGE[1], step=0.05, value=math.log10(settings["lr"]), name="lr",
                         title="learning rate (Adam, both nets)",
                         format=CustomJSTickFormatter(code="return Math.pow(10, tick).toExponential(1)"))  # fmt: skip
        self.d_steps = Spinner(low=D_STEPS_RANGE[0], high=D_STEPS_RANGE[1], step=1, value=settings["d_steps"],
                               title="D steps per G step", name="d_steps", width=120)  # fmt: skip
        self.loss = Select(title="generator loss", value=settings["loss"], options=list(LOSSES), name="loss")
        self.fps = Slider(start=FPS_SLIDER[0], end=FPS_SLIDER[1], step=1, value=settings["fps"], name="fps",
                          title="frames/s while training (throttle)")  # fmt: skip
        self.data = Select(title="data", value=settings["data"], options=[*MIXTURES, USER_DATA], name="data")
        self.upload = FileInput(accept=".csv,.npy", name="upload")
        self.draw = Toggle(label="draw: a click adds points", name="draw")
        self.clear = Button(label="clear data, draw from scratch", name="clear")
        self.seed = Spinner(low=0, high=MAX_SEED, step=1, value=settings["seed"], title="seed", name="seed", width=120)
        self.reset = Button(label="reset", button_type="warning", name="reset")
        self.save = Button(label="save checkpoint and pictures", name="save")
        return column(
            Div(text="<b>tinygan live</b>"),
            self.play,
            row(self.step_d, self.step_g, self.step_both),
            self.slow,
            self.lr,
            row(self.d_steps, self.loss),
            self.fps,
            self.data,
            Div(text=f"or your points (.csv / .npy, up to {MAX_UPLOAD_BYTES // 2**20} MiB):"),
            self.upload,
            self.draw,
            self.clear,
            row(self.seed, self.reset),
            self.save,
            self.message,
            width=280,
        )

    def _wire_callbacks(self) -> None:
        """Every widget's callback, each through ``guarded``; and the browser's own check of an upload's size."""
        trainer, guarded = self.trainer, self.guarded
        self.play.on_click(guarded(self.on_play))
        self.step_d.on_click(guarded(lambda: self.send(trainer.step_discriminator)))
        self.step_g.on_click(guarded(lambda: self.send(trainer.step_generator)))
        self.step_both.on_click(guarded(lambda: self.send(trainer.step_both)))
        self.clear.on_click(guarded(lambda: self.send(trainer.clear_points)))
        self.reset.on_click(guarded(self.on_reset))
        self.save.on_click(guarded(lambda: self.send(trainer.save)))
        self.plot.on_event(Tap, guarded(self.on_tap))
        self.on_change(self.slow, "active", self.on_slow_motion)
        self.on_change(self.lr, "value_throttled", self.on_learning_rate)
        self.on_change(self.d_steps, "value", self.on_d_steps)
        self.on_change(self.loss, "value", self.on_loss)
        self.on_change(self.fps, "value_throttled", self.on_fps)
        self.on_change(self.data, "value", self.on_data)
        self.on_change(self.seed, "value", self.on_seed)
        self.upload.on_change("value", guarded(self.on_upload))
        self.upload.on_change("filename", guarded(self.on_upload))
        self.message.on_change("text", guarded(self.on_message))
        size_check = CustomJS(args={"upload": self.upload, "message": self.message, "limit": MAX_UPLOAD_BYTES},
                              code=REFUSE_LARGE_FILES)  # fmt: skip
        self.doc.js_on_event("document_ready", size_check)

    # ------------------------------------------------------------------ the guard
    def guarded(self, callback: Callable[..., None]) -> Callable[..., None]:
        """``callback`` that never raises: a ValueError/TypeError (a refused value) becomes the message on the
        page; any other error is logged as one line (once per distinct message) and shown too."""

        @functools.wraps(callback)  # Bokeh reads the signature to decide what to pass
        def safe(*args: Any) -> None:
            try:
                callback(*args)
            except (ValueError, TypeError) as error:
                self.refuse(str(error))
            except Exception as error:  # the page must outlive a bug: one line in the log, not a traceback
                line = f"{type(error).__name__} in {getattr(callback, '__name__', 'a callback')}: {error}"
                if line not in self._logged:
                    self._logged.add(line)
                    log.error("tinygan live: %s", line)
                self.refuse(f"unexpected {line}")

        return safe

    def on_change(self, widget: Any, attr: str, handler: Callable[[Any], None]) -> None:
        """Call ``handler(new)`` when ``widget.attr`` changes, through the guard, unless the page itself set it.
        A refused value puts the widget back to the last value it accepted, so it shows what the trainer uses."""
        shown = "value" if attr == "value_throttled" else attr  # a slider's value_throttled is read-only here
        accepted = [getattr(widget, shown)]

        def changed(attr: str, old: Any, new: Any) -> None:
            if self._syncing:
                return
            try:
                handler(new)
            except (ValueError, TypeError):
                self._set_quietly(widget, shown, accepted[0])
                raise
            accepted[0] = new
            self.note = ""

        changed.__name__ = handler.__name__
        widget.on_change(attr, self.guarded(changed))

    def send(self, request: Callable[[], Any]) -> None:
        """Send a request to the trainer; an accepted one clears the last refusal from the page."""
        request()
        self.note = ""

    def refuse(self, reason: str) -> None:
        """Show why a value was refused, until the next accepted request."""
        self.note = reason if reason.startswith("error:") else f"error: {reason}"
        self._set_quietly(self.message, "text", self.note)

    def _set_quietly(self, model: Any, name: str, value: Any) -> None:
        """Set a property without its callback sending a request (a value Bokeh refuses is left as it was)."""
        self._syncing = True
        try:
            set_if_changed(model, name, value)
        except (ValueError, TypeError):
            pass
        finally:
            self._syncing = False

    # ------------------------------------------------------------------ the controls' handlers
    def on_play(self) -> None:
        frame = self.trainer.latest_frame()
        self.send(self.trainer.pause if frame is not None and frame.playing else self.trainer.play)

    def on_reset(self) -> None:
        seed = check_number(self.seed.value, "seed", 0, MAX_SEED, whole=True)
        self.send(lambda: self.trainer.reset(int(seed)))

    def on_tap(self, event: Tap) -> None:
        if self.draw.active:
            self.send(lambda: self.trainer.add_points((event.x, event.y)))  # add_points checks the point

    def on_slow_motion(self, active: Any) -> None:
        if not isinstance(active, bool):
            raise ValueError(f"slow motion must be on or off, got {active!r}")
        self.trainer.set_slow_motion(active)

    def on_learning_rate(self, log10_lr: Any) -> None:
        low, high = LR_RANGE
        value = check_number(log10_lr, "learning rate (log10)", low, high)
        self.trainer.set_learning_rate(10.0**value)

    def on_d_steps(self, d_steps: Any) -> None:
        value = check_number(d_steps, "D steps per G step", *D_STEPS_RANGE, whole=True)
        self.trainer.set_d_steps(int(value))

    def on_loss(self, loss: Any) -> None:
        if not isinstance(loss, str) or loss not in LOSSES:
            raise ValueError(f"generator loss must be one of {LOSSES}, got {loss!r}")
        self.trainer.set_loss(loss)

    def on_fps(self, fps: Any) -> None:
        self.trainer.set_fps(float(check_number(fps, "frames/s", *FPS_SLIDER)))

    def on_data(self, name: Any) -> None:
        """A built-in mixture; "your points" is only a label (the data come from an upload or drawing)."""
        if name == USER_DATA:
            return
        if not isinstance(name, str) or name not in MIXTURES:
            raise ValueError(f"data must be one of {[*MIXTURES, USER_DATA]}, got {name!r}")
        self.trainer.use_preset(name)

    def on_seed(self, seed: Any) -> None:
        """Only checked here: reset uses it."""
        check_number(seed, "seed", 0, MAX_SEED, whole=True)

    def on_message(self, attr: str, old: Any, new: Any) -> None:
        """The browser's own refusal (a file too large to send) arrives as the message's text: keep it shown."""
        if not self._syncing and isinstance(new, str) and new.startswith("error:"):
            self.note = new

    def on_upload(self, attr: str, old: Any, new: Any) -> None:
        """The browser sets the file's value and name in one message, one property after the other: read
        the upload once both have arrived, on the next tick."""
        if not self._upload_due:
            self._upload_due = True
            self.doc.add_next_tick_callback(self.guarded(self.read_upload))

    def read_upload(self) -> None:
        """Check the uploaded file's size, then its points exactly as --data does (load_points), naming the
        user's file in errors. A refused file leaves the trainer on the data it had."""
        self._upload_due = False
        try:
            name, content = self.upload.filename, self.upload.value
        except UnsetValueError:  # the other half has not arrived yet
            return
        if not isinstance(name, str) or not isinstance(content, str) or not name or not content:
            return  # Bokeh's types are checked already; an empty value is a cleared input
        if (name, hash(content)) == self.last_upload:
            return
        self.last_upload = (name, hash(content))
        data = points_from_upload(name, content)
        self.send(lambda: self.trainer.use_points(data))

    # ------------------------------------------------------------------ frames
    def show_newest_frame(self) -> None:
        """Move the newest frame (if new) into the data sources; Bokeh sends the changes to the browser."""
        frame = self.trainer.latest_frame()
        if frame is None or frame.index == self.shown_frame:
            return
        x0, x1, y0, y1 = frame.window
        self.heat.data = {"image": [frame.heatmap], "x": [x0], "y": [y0], "dw": [x1 - x0], "dh": [y1 - y0]}
        self.fake.data = {"x": frame.fake[:, 0], "y": frame.fake[:, 1]}
        base = frame.fake[: len(frame.arrows)]  # (ARROWS, 2)
        tips = base + ARROW_LENGTH * (x1 - x0) * frame.arrows
        self.arrows.data = {"x0": base[:, 0], "y0": base[:, 1], "x1": tips[:, 0], "y1": tips[:, 1]}
        lines = frame.manifold  # (lines, points, 2)
        gaps = np.concatenate([lines, np.full((len(lines), 1, 2), np.nan)], axis=1).reshape(-1, 2)  # NaN breaks a line
        self.manifold.data = {"x": gaps[:, 0], "y": gaps[:, 1]}
        if frame.real is not self.shown_real:
            self.real.data = {"x": frame.real[:, 0], "y": frame.real[:, 1]}
            self.shown_real = frame.real
        if frame.window != self.shown_window:
            self.plot.x_range.update(start=x0, end=x1, reset_start=x0, reset_end=x1)
            self.plot.y_range.update(start=y0, end=y1, reset_start=y0, reset_end=y1)
            self.shown_window = frame.window
        now = time.perf_counter()
        self.push_times = [t for t in self.push_times if now - t < 2.0] + [now]
        if now - self.chart_time >= CHART_SECONDS or not frame.playing:  # text and charts: twice a second
            self.show_history(frame.history_length)
            self.show_status(frame, now)
            self.chart_time = now
        self.sync_widgets(frame)
        self._set_quietly(self.message, "text", self.note or frame.message)
        self.shown_frame = frame.index

    def show_status(self, frame: Any, now: float) -> None:
        times = self.push_times
        shown_rate = (len(times) - 1) / (now - times[0]) if len(times) > 1 and now > times[0] else 0.0
        if frame.playing:
            state = f"training · {frame.steps_per_second:.0f} steps/s · {shown_rate:.1f} frames/s"
        else:
            state = "paused"
        self.status.text = f"<b>step {frame.step}</b> · {state} · frame {frame.index} · data: {frame.settings['data']}"

    def show_history(self, length: int) -> None:
        records = self.trainer.history  # append-only until a reset replaces it
        if length < self.shown_history or len(records) < length:  # a reset: start the charts again
            self.history.data = {key: [] for key in self.history.data}
            self.shown_history = 0
            length = min(length, len(records))
        new = records[self.shown_history : length]
        if new:
            self.history.stream({key: [r[key] for r in new] for key in self.history.data}, rollover=CHART_POINTS)
            self.shown_history = length

    def sync_widgets(self, frame: Any) -> None:
        """Widgets the trainer can change by itself: play/pause, the data's name."""
        set_if_changed(self.play, "label", "pause" if frame.playing else "play")
        set_if_changed(self.play, "button_type", "primary" if frame.playing else "success")
        self._set_quietly(self.data, "value", frame.settings["data"])


class LiveServer:
    """A Bokeh server with the live page at "/", one LiveTrainer per tab.

    ``run()`` blocks until Ctrl-C (the command line); ``start_in_thread()`` / ``stop()`` serve from a
    background thread (tests). Binds 127.0.0.1 unless another host is given explicitly.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 5006, make_trainer: Callable[[], LiveTrainer]) -> None:
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int in [0, 65535], got {port!r}")
        self.host, self.port = host, port or free_port(host)
        self.make_trainer = make_trainer
        self.trainers: list[LiveTrainer] = []  # every tab's trainer, oldest first
        self.pages: list[LivePage] = []
        self._server: Server | None = None
        self._stopped = False
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def _page(self, doc: Document) -> None:
        trainer = self.make_trainer().start()
        self.trainers.append(trainer)
        self.pages.append(LivePage(doc, trainer))
        doc.on_session_destroyed(lambda context: trainer.stop())

    def _make_server(self, io_loop: IOLoop) -> Server:
        origins = [f"{self.host}:{self.port}"] + ([f"localhost:{self.port}"] if self.host == "127.0.0.1" else [])
        return Server(
            {"/": Application(FunctionHandler(self._page))},
            io_loop=io_loop,
            address=self.host,
            port=self.port,
            allow_websocket_origin=origins,
            check_unused_sessions_milliseconds=1000,  # a closed tab's trainer stops within ~2 s
            unused_session_lifetime_milliseconds=1000,
            websocket_max_message_size=WEBSOCKET_MAX_BYTES,
        )

    def run(self, open_browser: bool = True) -> None:
        """Serve until Ctrl-C, then stop every trainer."""
        io_loop = IOLoop.current()
        self._server = self._make_server(io_loop)
        self._server.start()
        print(f"tinygan live: open {self.url}  (Ctrl-C stops)", flush=True)
        if open_browser:
            io_loop.add_callback(self._server.show, "/")
        try:
            io_loop.start()
        except KeyboardInterrupt:
            pass
        finally:
            self._shutdown()
            print("tinygan live: stopped", flush=True)

    def start_in_thread(self, timeout: float = 30.0) -> LiveServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(asyncio.new_event_loop())
            io_loop = IOLoop.current()
            try:
                self._server = self._make_server(io_loop)
                self._server.start()
            except BaseException as error:  # reported to the caller
                failure.append(error)
                ready.set()
                return
            ready.set()
            io_loop.start()
            io_loop.close(all_fds=True)

        self._thread = threading.Thread(target=serve, name="tinygan-live-server", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"the live server did not start within {timeout} s")
        if failure:
            raise failure[0]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (from any thread) and stop every trainer."""
        server = self._server
        if server is not None and self._thread is not None and self._thread.is_alive():

            def shut() -> None:
                self._shutdown()
                server.io_loop.stop()

            server.io_loop.add_callback(shut)
            self._thread.join(timeout)
        else:
            self._shutdown()

    def _shutdown(self) -> None:
        if self._server is not None and not self._stopped:
            self._stopped = True
            self._server.stop()
        for trainer in self.trainers:
            trainer.stop()


def set_if_changed(model: Any, name: str, value: Any) -> None:
    """Set a property only when it changes: every change is a message to the browser and a redraw there."""
    if getattr(model, name) != value:
        setattr(model, name, value)


def free_port(host: str) -> int:
    """A port the OS says is free on ``host`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def check_number(value: Any, name: str, low: float, high: float, *, whole: bool = False) -> float:
    """``value`` if it is a finite number in [low, high] (a whole one if ``whole``), else ValueError naming ``name``."""
    if not is_real(value) or not low <= value <= high or (whole and value != int(value)):
        what, bounds = (
            ("a whole number", f"[{int(low)}, {int(high)}]") if whole else ("a number", f"[{low:g}, {high:g}]")
        )
        raise ValueError(f"{name} must be {what} in {bounds}, got {value!r}")
    return value


def points_from_upload(name: str, content: str) -> EmpiricalData:
    """An uploaded file (base64 text, as the browser sends it), read by the same rules as --data
    (points_from_bytes, naming the user's file), at most MAX_UPLOAD_BYTES, and 2-D."""
    size = len(content) * 3 // 4  # base64: 4 characters carry 3 bytes; checked before decoding
    if size > MAX_UPLOAD_BYTES:
        raise ValueError(
            f"{name} is {size / 2**20:.1f} MiB; the page takes files up to {MAX_UPLOAD_BYTES // 2**20} MiB"
        )
    try:
        raw = base64.b64decode(content, validate=True)
    except binascii.Error:
        raise ValueError(f"{name} did not arrive as base64 text") from None
    data = points_from_bytes(raw, name, max_bytes=MAX_UPLOAD_BYTES)
    check_plane(data)
    return data
