"""The live view: watch a GAN learn in the browser, GAN Lab style, driven by tinygan's own code.

``python -m tinygan.live`` (or ``python demos/live.py``) starts a local Bokeh server; see docs/live.md.

* ``trainer.py``: LiveTrainer, the one thread that owns the GAN and applies the page's requests
  between steps, and Frame, the picture of the model it hands to the page (no web library needed);
* ``app.py``: the Bokeh page and server (needs the ``live`` extra);
* ``cli.py``: the command line.
"""

from __future__ import annotations

BOKEH_MINIMUM = (3, 4)
INSTALL_HINT = 'pip install -e ".[live]"'


def require_bokeh() -> None:
    """ImportError in one line, naming the extra, when Bokeh is missing or too old."""
    try:
        import bokeh
    except ImportError:
        raise ImportError(f"the live view needs Bokeh >= 3.4: {INSTALL_HINT}") from None
    version = tuple(int(part) for part in bokeh.__version__.split(".")[:2] if part.isdigit())
    if version < BOKEH_MINIMUM:
        raise ImportError(f"the live view needs Bokeh >= 3.4 (found {bokeh.__version__}): {INSTALL_HINT}")
