"""Watch a GAN learn, live, in the browser: D(x), G's samples, manifold and gradients, the losses.

    python demos/live.py                      # the article's two Gaussians; opens a browser tab
    python demos/live.py --data points.csv    # your own 2-D points
    python demos/live.py --help               # everything

The same as ``python -m tinygan.live``; needs the live extra: pip install -e ".[live]". See docs/live.md.
"""

import sys

from tinygan.live.cli import main

if __name__ == "__main__":
    sys.exit(main())
