"""The live view's page: a Bokeh document that shows a LiveTrainer's frames and sends it requests.

One browser tab is one Bokeh session with its own trainer (its own GAN and thread), stopped when
the tab closes. The page never touches the model: every widget calls a LiveTrainer method,
which queues a request for the trainer thread; a periodic callback shows the newest Frame.

    widgets --request--> LiveTrainer (thread: train_step, requests, frames) --Frame--> data sources
"""

from __future__ import annotations

import asyncio
import base64
import math
import os
import socket
import tempfile
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

from ..evaluation.data import MIXTURES, load_points  # noqa: E402
from .trainer import LOG4, LiveTrainer  # noqa: E402

POLL_MS = 20  # how often the page looks for a new frame
ARROW_LENGTH = 0.05  # an arrow of gradient norm 1 (per sample, data units) is 5% of the view's width
CHART_POINTS = 2000  # the loss charts keep the last 2000 records
CHART_SECONDS = 0.5  # the charts take new records twice a second: redrawing them costs the browser more than a frame


class LivePage:
    """The widgets, plots and data sources of one tab, bound to one trainer."""

    def __init__(self, doc: Document, trainer: LiveTrainer) -> None:
        self.doc, self.trainer = doc, trainer
        self.shown_frame, self.shown_history, self.shown_real, self.shown_window = 0, 0, None, None
        self.chart_time = 0.0  # when the charts last took new records
        self.push_times: list[float] = []  # when the last frames reached the document (for frames/s)
        self.note = ""  # an error found on this side (bad input), shown until the next message
        self._syncing = False
        settings = trainer.settings()

        # ---- the main picture: D(x), real points, G's manifold, generated points, -dL_G/dx arrows
        self.heat = ColumnDataSource({"image": [], "x": [], "y": [], "dw": [], "dh": []}, name="heatmap_source")
        self.real = ColumnDataSource({"x": [], "y": []})
        self.fake = ColumnDataSource({"x": [], "y": []})
        self.manifold = ColumnDataSource({"x": [], "y": []})  # all grid lines in one, NaN between lines
        self.arrows = ColumnDataSource({"x0": [], "y0": [], "x1": [], "y1": []})
        x0, x1, y0, y1 = trainer.window
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
        plot.on_event(Tap, self.on_tap)
        self.plot = plot

        # ---- charts: the losses; V(D, G) beside -log 4 and the JSD estimate
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

        # ---- controls
        self.status = Div(text="", name="status", width=560, height=20)
        self.message = Div(text="", name="message", width=260, height=90)
        self.play = Button(label="play", button_type="success", name="play")
        self.play.on_click(self.on_play)
        step_d = Button(label="step D", name="step_d")
        step_d.on_click(lambda: trainer.step_discriminator())
        step_g = Button(label="step G", name="step_g")
        step_g.on_click(lambda: trainer.step_generator())
        step_both = Button(label="step both", name="step_both")
        step_both.on_click(lambda: trainer.step_both())
        slow = Toggle(label="slow motion", name="slow_motion")
        slow.on_change("active", lambda attr, old, new: trainer.set_slow_motion(new))
        self.lr = Slider(start=-5, end=-2, step=0.05, value=math.log10(settings["lr"]), name="lr",
                         title="learning rate (Adam, both nets)",
                         format=CustomJSTickFormatter(code="return Math.pow(10, tick).toExponential(1)"))  # fmt: skip
        self.lr.on_change("value_throttled", self.guard(lambda new: trainer.set_learning_rate(10.0**new)))
        d_steps = Spinner(low=1, high=10, step=1, value=settings["d_steps"], title="D steps per G step",
                          name="d_steps", width=120)  # fmt: skip
        d_steps.on_change("value", self.guard(lambda new: trainer.set_d_steps(int(new))))
        loss = Select(title="generator loss", value=settings["loss"], options=["nonsaturating", "minimax"], name="loss")
        loss.on_change("value", self.guard(trainer.set_loss))
        fps = Slider(start=1, end=30, step=1, value=settings["fps"], title="frames/s while training (throttle)",
                     name="fps")  # fmt: skip
        fps.on_change("value_throttled", self.guard(trainer.set_fps))
        self.data = Select(title="data", value=settings["data"], options=[*MIXTURES, "your points"], name="data")
        self.data.on_change("value", self.on_data)
        self.upload = FileInput(accept=".csv,.npy", name="upload")
        self.upload.on_change("value", self.on_upload)  # the browser sets value and filename one after the other
        self.upload.on_change("filename", self.on_upload)
        self.last_upload: tuple[str, int] | None = None
        self.draw = Toggle(label="draw: a click adds points", name="draw")
        clear = Button(label="clear data, draw from scratch", name="clear")
        clear.on_click(lambda: trainer.clear_points())
        self.seed = Spinner(low=0, high=2**31 - 1, step=1, value=settings["seed"], title="seed", name="seed", width=120)
        reset = Button(label="reset", button_type="warning", name="reset")
        reset.on_click(lambda: self.run(lambda: trainer.reset(int(self.seed.value))))
        save = Button(label="save checkpoint and pictures", name="save")
        save.on_click(lambda: trainer.save())

        controls = column(
            Div(text="<b>tinygan live</b>"),
            self.play,
            row(step_d, step_g, step_both),
            slow,
            self.lr,
            row(d_steps, loss),
            fps,
            self.data,
            Div(text="or your points (.csv / .npy):"),
            self.upload,
            self.draw,
            clear,
            row(self.seed, reset),
            save,
            self.message,
            width=280,
        )
        doc.add_root(row(controls, column(self.status, plot), column(losses, value)))
        doc.title = "tinygan live"
        doc.add_periodic_callback(self.show_newest_frame, POLL_MS)

    # ------------------------------------------------------------------ requests
    def run(self, request: Callable[[], Any]) -> None:
        """Send a request; a ValueError/TypeError (bad input, found before queueing) is shown on the page."""
        try:
            request()
            self.note = ""
        except (ValueError, TypeError) as error:
            self.note = f"error: {error}"
            self.message.text = self.note

    def guard(self, request: Callable[[Any], Any]) -> Callable[[str, Any, Any], None]:
        """An on_change callback that sends ``request(new)``, unless the page itself is syncing the widget."""

        def callback(attr: str, old: Any, new: Any) -> None:
            if not self._syncing:
                self.run(lambda: request(new))

        return callback

    def on_play(self) -> None:
        frame = self.trainer.latest_frame()
        if frame is not None and frame.playing:
            self.trainer.pause()
        else:
            self.trainer.play()

    def on_tap(self, event: Tap) -> None:
        if self.draw.active:
            self.run(lambda: self.trainer.add_points((event.x, event.y)))

    def on_data(self, attr: str, old: str, new: str) -> None:
        if not self._syncing and new in MIXTURES:
            self.run(lambda: self.trainer.use_preset(new))

    def on_upload(self, attr: str, old: str, new: str) -> None:
        """Validate the uploaded file exactly as --data does (load_points), naming the user's file in errors."""
        try:
            name, content = str(self.upload.filename), str(self.upload.value)
        except UnsetValueError:  # the other half has not arrived yet
            return
        if (name, hash(content)) == self.last_upload:
            return
        self.last_upload = (name, hash(content))
        suffix = os.path.splitext(name)[1].lower()
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "upload" + suffix)
            with open(path, "wb") as handle:
                handle.write(base64.b64decode(content))
            try:
                data = load_points(path)
            except (ValueError, TypeError) as error:
                self.note = "error: " + str(error).replace(repr(path), repr(name))
                self.message.text = self.note
                return
        self.run(lambda: self.trainer.use_points(data))

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
        set_if_changed(self.message, "text", self.note or frame.message)
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
        if self.data.value != frame.settings["data"]:
            self._syncing = True
            self.data.value = frame.settings["data"]
            self._syncing = False


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
