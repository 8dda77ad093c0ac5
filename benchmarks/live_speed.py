"""The live view's cost: frames/s reaching the browser and training steps/s, against headless training.

    python benchmarks/live_speed.py                    # fps settings 5, 10 (the default), 15, 20; 8 s each
    python benchmarks/live_speed.py --fps 10 --seconds 15

Headless: ``GAN.train_step`` in a loop with the live view's default config (numba backend, one BLAS
thread). Live: the Bokeh server in this process, headless Chromium (Playwright) showing the page,
training started as the play button starts it; frames are counted in the browser (changes of the
heatmap's data, which every frame replaces), steps on the trainer. Headless runs before and after
each live run; the ratio uses their mean, so a change in the machine's load shows as their gap.
Needs the live extra and Chromium (CHROMIUM, default /usr/bin/chromium).
"""

from __future__ import annotations

import os
import time

import numpy as np

import tinygan as tg
from tinygan.cli import OneLineParser, number
from tinygan.fast.backend import limit_threads
from tinygan.live.app import LiveServer
from tinygan.live.trainer import LiveTrainer, live_config

COUNT_FRAMES = """() => {
    const status = Bokeh.documents[0].get_model_by_name("heatmap_source");
    window.frames_seen = 0;
    status.properties.data.change.connect(() => { window.frames_seen += 1; });
}"""


def headless_rate(seconds: float) -> float:
    gan = tg.GAN(tg.mixture("two"), live_config())
    with limit_threads(1):
        for _ in range(20):
            gan.train_step()
        start, steps = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            gan.train_step()
            steps += 1
    return steps / (time.perf_counter() - start)


def live_rates(page, server: LiveServer, seconds: float) -> tuple[float, float]:
    """(frames/s seen by the browser, training steps/s) over ``seconds`` of play, after a 2 s warm-up."""
    trainer = server.trainers[-1]
    trainer.play().result(10)
    time.sleep(2.0)
    page.evaluate(COUNT_FRAMES)
    steps0, start = trainer._steps_trained, time.perf_counter()
    time.sleep(seconds)
    frames = page.evaluate("() => window.frames_seen")
    steps, elapsed = trainer._steps_trained - steps0, time.perf_counter() - start
    trainer.pause().result(10)
    return frames / elapsed, steps / elapsed


def main() -> None:
    parser = OneLineParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fps", type=number(float, 0.5, "--fps", strict=False, at_most=60), nargs="+",
                        default=[5, 10, 15, 20], help="frame-rate settings, each in [0.5, 60]")  # fmt: skip
    parser.add_argument("--seconds", type=number(float, 0.0, "--seconds", at_most=3600), default=8.0,
                        help="seconds of each live run, in (0, 3600]")  # fmt: skip
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    tg.set_backend("numba")
    print(f"{'fps setting':>11} | {'frames/s in browser':>19} | {'live steps/s':>12} | "
          f"{'headless steps/s (before, after)':>32} | live / headless")  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
        for fps in args.fps:
            before = headless_rate(args.seconds / 2)
            server = LiveServer(port=0, make_trainer=lambda fps=fps: LiveTrainer("two", fps=fps)).start_in_thread()
            try:
                page = browser.new_page(viewport={"width": 1320, "height": 900})
                page.goto(server.url)
                page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=60_000)
                frame_rate, step_rate = live_rates(page, server, args.seconds)
                page.close()
            finally:
                server.stop()
            after = headless_rate(args.seconds / 2)
            headless = float(np.mean([before, after]))
            print(f"{fps:>11g} | {frame_rate:>19.1f} | {step_rate:>12.0f} | "
                  f"{headless:>11.0f} ({before:.0f}, {after:.0f}){'':>10} | {step_rate / headless:.2f}")  # fmt: skip
        browser.close()


if __name__ == "__main__":
    main()
