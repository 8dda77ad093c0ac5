"""Load a ``benchmarks/`` script as a module, the one way every test does it.

``benchmarks/`` is a folder of scripts, not a package: a script imports its siblings by name
(``from mode_coverage import ...``), as when it runs from there. So the folder goes on ``sys.path``
once, and each script is registered in ``sys.modules`` under its own name (worker processes unpickle
``mode_coverage.RunSpec`` by that name); loading a script twice returns the same module.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as the module ``name`` (loaded once, then reused)."""
    path = BENCHMARKS / f"{name}.py"
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path:
        return loaded
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
