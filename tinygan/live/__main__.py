"""``python -m tinygan.live``: see cli.py."""

import sys

from .cli import main

sys.exit(main())
