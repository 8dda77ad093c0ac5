"""The live view's command line: ``python -m tinygan.live`` or ``python demos/live.py``.

    python -m tinygan.live                      # the article's two Gaussians, opens a browser tab
    python -m tinygan.live --mixture ring8      # 8 modes on a circle
    python -m tinygan.live --data points.csv    # your own 2-D points (.csv or .npy)
    python -m tinygan.live --no-browser --port 8000

Serves on 127.0.0.1 only, unless --host names another address. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from typing import NoReturn

from ..cli import OneLineParser, number
from ..evaluation.data import MIXTURES, EmpiricalData, load_points
from .trainer import LiveTrainer, check_plane


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    description, examples = __doc__.split("\n\n", 1)
    p = OneLineParser(prog="python -m tinygan.live", description=description, epilog=examples,
                      formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--mixture", default="two", choices=MIXTURES, help="built-in data (default: two)")
    p.add_argument("--data", metavar="PATH", help="your own 2-D points (.npy of shape (n, 2), or .csv)")
    p.add_argument(
        "--seed",
        type=number(int, 0, "--seed", strict=False, at_most=2**31 - 1),
        default=0,
        help="random seed (default 0)",
    )
    p.add_argument("--fps", type=number(float, 0.5, "--fps", strict=False, at_most=60), default=15.0,
                   help="most frames a second while training (default 15); fewer frames, faster training")  # fmt: skip
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this computer only)")
    p.add_argument(
        "--port",
        type=number(int, 0, "--port", strict=False, at_most=65535),
        default=5006,
        help="default 5006; 0: any free",
    )
    p.add_argument("--out", default="runs/live", help="where 'save' writes the checkpoint and pictures")
    p.add_argument("--backend", choices=["numpy", "numba"], help="default: numba if installed")
    p.add_argument(
        "--threads",
        type=number(int, 1, "--threads", strict=False, at_most=256),
        default=1,
        help="CPU threads for training: BLAS and Numba (default 1: the page needs the other core)",
    )
    p.add_argument("--no-browser", action="store_true", help="print the address, do not open a browser")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Check every flag, the data and --out, then serve (until Ctrl-C); a refusal is one line and exit 2."""
    args = parse_args(argv)
    data = checked_data(args)
    check_out(args.out)
    from . import require_bokeh

    try:
        require_bokeh()
    except ImportError as error:
        fail(str(error))
    from .. import set_backend

    if args.backend:
        set_backend(args.backend)

    def make_trainer() -> LiveTrainer:
        return LiveTrainer(data, seed=args.seed, fps=args.fps, out=args.out, threads=args.threads)

    serve(args, make_trainer)
    return 0


def checked_data(args: argparse.Namespace) -> str | EmpiricalData:
    """The mixture's name, or the --data file's points: read by load_points (the same checks and errors as
    demos/mixture.py --data) and 2-D, since the page draws the plane."""
    if args.data is None:
        return args.mixture
    try:
        data = load_points(args.data)
        check_plane(data)
    except (ValueError, TypeError) as error:
        fail(f"--data {args.data}: {error}")
    return data


def check_out(path: str) -> None:
    """--out must be a folder 'save' can create or write in: not a file, under a folder we may write in."""
    if not path or "\0" in path:
        fail(f"--out must name a folder, got {path!r}")
    if os.path.exists(path) and not os.path.isdir(path):
        fail(f"--out {path!r} is a file, not a folder")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):  # the nearest folder that exists: save creates the rest
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        fail(f"--out {path!r} cannot be created: {existing!r} is a file")
    try:  # a real file, not os.access: access() says yes to root, even on a read-only file system
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        fail(f"--out {path!r}: cannot write in {existing!r} ({error.strerror or error})")


def serve(args: argparse.Namespace, make_trainer: Callable[[], LiveTrainer]) -> None:
    """Serve the page until Ctrl-C (tests replace this to check a command line without serving)."""
    from .app import LiveServer

    try:
        server = LiveServer(host=args.host, port=args.port, make_trainer=make_trainer)
        server.run(open_browser=not args.no_browser)
    except OSError as error:  # the port is taken, or the host is not an address of this computer
        fail(f"cannot serve on {args.host}:{args.port}: {error.strerror or error}")
