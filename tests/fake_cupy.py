"""A stand-in for CuPy, backed by NumPy, as strict about the host/device boundary as the real one.

Why: there is no GPU here, yet the CuPy path must be proven not to mix host (NumPy) arrays into
device code. Like ``cupy.ndarray``, a ``fake_cupy.ndarray``

* refuses implicit conversion: ``np.asarray(a)``, NumPy ufuncs and functions on it raise TypeError;
* refuses NumPy arrays as operands (``a + numpy_array`` raises TypeError), but takes Python and NumPy
  scalars, which CuPy passes to kernels by value;
* comes from its own namespace (``__array_namespace__`` returns this module), so the NumPy twins in
  kernels.py, which pick their module with ``array_module(a)``, run on it unchanged;
* leaves the device only through ``.get()``, ``float()``, ``int()`` or ``bool()``; each such copy is
  counted in ``TRANSFERS["to_host"]``, and each host array copied in (``asarray`` of a NumPy array,
  or storing one with ``a[...] = numpy_array``) in ``TRANSFERS["to_device"]``.

Its RNG wraps NumPy's Generator (seeded the same, it draws the same numbers) but, like CuPy's,
its bit generator's state cannot be read as data. ``ElementwiseKernel`` compiles the kernel's CUDA
C++ body with the host C++ compiler, the way CuPy's generated loop would run it, so
kernels_cupy.py's bodies and wrappers execute here too (``HAVE_COMPILER`` says whether they can).
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import operator
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from types import SimpleNamespace
from typing import Any

import numpy as np

TRANSFERS: Counter = Counter()  # "to_host", "to_device"
LAUNCHES: Counter = Counter()  # ElementwiseKernel launches by kernel name
float32, float64, int32, int64, bool_ = np.float32, np.float64, np.int32, np.int64, np.bool_
_SCALARS = (int, float, bool, np.generic)


def reset_counters() -> None:
    TRANSFERS.clear()
    LAUNCHES.clear()


def _module():
    return sys.modules[__name__]


def _unwrap(value: Any, what: str = "operand") -> Any:
    """The NumPy array behind a fake array; scalars pass; a host array is an error, as in CuPy."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, _SCALARS) or value is None:
        return value
    raise TypeError(f"Unsupported type {type(value)} as {what} (the stand-in, like CuPy, takes no host arrays)")


def _unwrap_key(key: Any) -> Any:
    if isinstance(key, tuple):
        return tuple(_unwrap_key(k) for k in key)
    if isinstance(key, (slice, type(Ellipsis))):
        return key
    return _unwrap(key, "index")


def _wrap(result: Any) -> Any:
    """Every array result lives on the 'device', 0-d ones too (CuPy returns 0-d arrays, not scalars)."""
    return ndarray(np.asarray(result))


class ndarray:  # noqa: N801 - named like cupy.ndarray
    """A NumPy array kept behind a wall; see the module docstring."""

    __array_ufunc__ = None  # NumPy ufuncs (np.exp(a), numpy_array + a) refuse it
    __hash__ = None  # == is elementwise

    def __init__(self, host: np.ndarray) -> None:
        self._a = host

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` explicitly.")

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return NotImplemented  # np.concatenate([a]), np.sum(a), ... raise TypeError

    def __array_namespace__(self, api_version: str | None = None) -> Any:
        return _module()

    def get(self) -> np.ndarray:
        TRANSFERS["to_host"] += 1
        return self._a.copy()

    def _scalar(self, kind: type) -> Any:
        if self._a.size != 1:
            raise TypeError(f"only size-1 arrays convert to Python scalars, got shape {self.shape}")
        TRANSFERS["to_host"] += 1
        return kind(self._a.reshape(()).item())

    def __float__(self) -> float:
        return self._scalar(float)

    def __int__(self) -> int:
        return self._scalar(int)

    def __bool__(self) -> bool:
        return self._scalar(bool)

    def __repr__(self) -> str:
        return f"fake_cupy.ndarray(shape={self.shape}, dtype={self.dtype})"

    # ---------------------------------------------------------------- metadata and views
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        return (ndarray(np.asarray(row)) for row in self._a)

    def __getitem__(self, key: Any) -> ndarray:
        return _wrap(self._a[_unwrap_key(key)])  # basic slices stay views, as on the device

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(value, np.ndarray):
            TRANSFERS["to_device"] += 1  # CuPy copies a host array in here; count it
            self._a[_unwrap_key(key)] = value
        else:
            self._a[_unwrap_key(key)] = _unwrap(value, "value")

    def reshape(self, *shape: Any) -> ndarray:
        return ndarray(self._a.reshape(*shape))

    def take(self, indices: Any, axis: Any = None) -> ndarray:
        return ndarray(self._a.take(_unwrap(indices, "indices"), axis=axis))

    def ravel(self) -> ndarray:
        return ndarray(self._a.ravel())

    def astype(self, dtype: Any, copy: bool = True) -> ndarray:
        return ndarray(self._a.astype(dtype, copy=copy))

    def copy(self) -> ndarray:
        return ndarray(self._a.copy())

    def sum(self, axis: Any = None, keepdims: bool = False) -> ndarray:
        return _wrap(self._a.sum(axis=axis, keepdims=keepdims))

    def mean(self, axis: Any = None, keepdims: bool = False) -> ndarray:
        return _wrap(self._a.mean(axis=axis, keepdims=keepdims))

    def min(self, axis: Any = None, keepdims: bool = False) -> ndarray:
        return _wrap(self._a.min(axis=axis, keepdims=keepdims))

    def max(self, axis: Any = None, keepdims: bool = False) -> ndarray:
        return _wrap(self._a.max(axis=axis, keepdims=keepdims))

    def argmax(self, axis: Any = None) -> ndarray:
        return ndarray(np.asarray(self._a.argmax(axis=axis)))

    def all(self, axis: Any = None) -> ndarray:
        return _wrap(self._a.all(axis=axis))

    def any(self, axis: Any = None) -> ndarray:
        return _wrap(self._a.any(axis=axis))

    def __neg__(self) -> ndarray:
        return ndarray(-self._a)

    def __abs__(self) -> ndarray:
        return ndarray(np.abs(self._a))


def _binary(op: Any, reflected: bool = False) -> Any:
    def method(self: ndarray, other: Any) -> ndarray:
        other = _unwrap(other)
        return _wrap(op(other, self._a) if reflected else op(self._a, other))

    return method


def _inplace(op: Any) -> Any:
    def method(self: ndarray, other: Any) -> ndarray:
        op(self._a, _unwrap(other))  # numpy's in-place operators write into self._a
        return self

    return method


for _name, _op in {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "pow": operator.pow,
    "matmul": operator.matmul,
}.items():
    setattr(ndarray, f"__{_name}__", _binary(_op))
    setattr(ndarray, f"__r{_name}__", _binary(_op, reflected=True))
    setattr(ndarray, f"__i{_name}__", _inplace(getattr(operator, f"i{_name}")))
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(ndarray, f"__{_name}__", _binary(getattr(operator, _name)))


# -------------------------------------------------------------------- module functions
def asarray(a: Any, dtype: Any = None) -> ndarray:
    """Device arrays pass through (cast if asked); host data is copied to the device (counted)."""
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == np.dtype(dtype) else a.astype(dtype)
    TRANSFERS["to_device"] += 1
    return ndarray(np.array(a, dtype=dtype))


def array(a: Any, dtype: Any = None) -> ndarray:
    if isinstance(a, ndarray):
        return ndarray(np.array(a._a, dtype=dtype))
    return asarray(a, dtype)


def ascontiguousarray(a: ndarray, dtype: Any = None) -> ndarray:
    return ndarray(np.ascontiguousarray(_unwrap(a), dtype=dtype))


def zeros(shape: Any, dtype: Any = float) -> ndarray:
    return ndarray(np.zeros(shape, dtype))


def empty(shape: Any, dtype: Any = float) -> ndarray:
    return ndarray(np.empty(shape, dtype))


def full(shape: Any, fill_value: Any, dtype: Any = None) -> ndarray:
    return ndarray(np.full(shape, _unwrap(fill_value), dtype))


def zeros_like(a: ndarray, dtype: Any = None) -> ndarray:
    return ndarray(np.zeros_like(_unwrap(a), dtype))


def empty_like(a: ndarray, dtype: Any = None) -> ndarray:
    return ndarray(np.empty_like(_unwrap(a), dtype))


def ones_like(a: ndarray, dtype: Any = None) -> ndarray:
    return ndarray(np.ones_like(_unwrap(a), dtype))


def eye(n: int, dtype: Any = float) -> ndarray:
    return ndarray(np.eye(n, dtype=dtype))


def arange(*args: Any, dtype: Any = None) -> ndarray:
    return ndarray(np.arange(*args, dtype=dtype))


def concatenate(arrays: Any, axis: int = 0) -> ndarray:
    return ndarray(np.concatenate([_unwrap(a) for a in arrays], axis=axis))


def stack(arrays: Any, axis: int = 0) -> ndarray:
    return ndarray(np.stack([_unwrap(a) for a in arrays], axis=axis))


def tile(a: ndarray, reps: Any) -> ndarray:
    return ndarray(np.tile(_unwrap(a), reps))


def where(condition: Any, x: Any, y: Any) -> ndarray:
    return _wrap(np.where(_unwrap(condition), _unwrap(x), _unwrap(y)))


def searchsorted(a: ndarray, v: Any, side: str = "left") -> ndarray:
    return _wrap(np.searchsorted(_unwrap(a), _unwrap(v), side=side))


def _ufunc(func: Any) -> Any:
    def apply(*args: Any, out: ndarray | None = None) -> ndarray:
        if out is None:
            return _wrap(func(*(_unwrap(a) for a in args)))
        func(*(_unwrap(a) for a in args), out=_unwrap(out, "out"))
        return out

    apply.__name__ = func.__name__
    return apply


maximum, minimum, exp, log, log1p, abs, tanh, sqrt, isfinite = (  # noqa: A001 - cupy.abs exists
    _ufunc(f) for f in (np.maximum, np.minimum, np.exp, np.log, np.log1p, np.abs, np.tanh, np.sqrt, np.isfinite)
)


# -------------------------------------------------------------------- device RNG
class _BitGenerator:
    """Like CuPy's XORWOW: ``state`` is a method, and the state cannot be saved as data."""

    def __init__(self, host: np.random.Generator) -> None:
        self._host = host

    def state(self) -> Any:
        raise NotImplementedError("the stand-in's device RNG state, like CuPy's, cannot be serialized")


class Generator:
    """Draws exactly what ``numpy.random.default_rng(seed)`` draws, as device arrays (no transfer counted)."""

    def __init__(self, host: np.random.Generator) -> None:
        self.bit_generator = _BitGenerator(host)

    def random(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> ndarray:
        return self._draw("random", size, dtype, out)

    def standard_normal(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> ndarray:
        return self._draw("standard_normal", size, dtype, out)

    def integers(self, low: int, high: int | None = None, size: Any = None) -> ndarray:
        return ndarray(np.asarray(self.bit_generator._host.integers(low, high, size)))

    def _draw(self, method: str, size: Any, dtype: Any, out: Any) -> ndarray:
        if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"Unsupported dtype {np.dtype(dtype).name} for {method}")
        if out is not None:
            raise NotImplementedError("the stand-in does not take out=")
        return ndarray(np.asarray(getattr(self.bit_generator._host, method)(size, dtype=dtype)))


def default_rng(seed: Any = None) -> Generator:
    return Generator(np.random.default_rng(seed))


random = SimpleNamespace(default_rng=default_rng, Generator=Generator)


# -------------------------------------------------------------------- ElementwiseKernel via the host compiler
COMPILER = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")
HAVE_COMPILER = COMPILER is not None
_C_TYPES = {
    np.dtype(np.float32): ("float", ctypes.c_float),
    np.dtype(np.float64): ("double", ctypes.c_double),
    np.dtype(np.int32): ("int", ctypes.c_int32),
    np.dtype(np.int64): ("long long", ctypes.c_int64),
}
_BUILD_DIR = None
_LIBRARIES: dict[str, Any] = {}


def _parse_params(spec: str) -> list[tuple[str, str]]:
    """'T x, int32 act' -> [('T', 'x'), ('int32', 'act')], with CuPy's rules on names."""
    params = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        words = item.split()
        if len(words) != 2:
            raise NotImplementedError(f"the stand-in supports only 'type name' parameters, got {item!r}")
        kind, name = words
        if name in ("i", "n") or name.startswith("_") or not re.fullmatch(r"[A-Za-z]\w*", name):
            raise ValueError(f"{name!r} is reserved or invalid as an ElementwiseKernel parameter name")
        params.append((kind, name))
    return params


class ElementwiseKernel:
    """cupy.ElementwiseKernel's contract, run on the CPU: the body is compiled as C++ by the host compiler.

    As in CuPy: one-letter types are placeholders resolved from the arrays (outputs first) and must
    agree; array inputs are broadcast to the outputs' shape; scalars are cast to their parameter's
    type; inside the body inputs are ``const T &x`` and outputs ``T &y`` for the current element.
    Unlike CuPy, outputs must be passed (tinygan always passes them).
    """

    def __init__(self, in_params: str, out_params: str, operation: str, name: str = "kernel", preamble: str = "",
                 **kwargs: Any) -> None:  # fmt: skip
        if not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise ValueError(f"Invalid kernel name: {name!r}")
        self.in_params, self.out_params = _parse_params(in_params), _parse_params(out_params)
        names = [p for _, p in self.in_params + self.out_params]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate parameter names in {names}")
        self.operation, self.name, self.preamble = operation, name, preamble
        self._functions: dict[tuple, Any] = {}  # compiled once per (types, which inputs are arrays)

    def __call__(self, *args: Any) -> Any:
        n_in = len(self.in_params)
        if len(args) != n_in + len(self.out_params):
            raise TypeError(f"{self.name}: expected {n_in} inputs and {len(self.out_params)} outputs, got {len(args)}")
        ins, outs = args[:n_in], args[n_in:]
        if not all(isinstance(o, ndarray) for o in outs):
            raise TypeError("Output arguments type must be cupy.ndarray")
        for value in ins:
            _unwrap(value, f"argument of {self.name}")  # a host array is a TypeError
        types = self._resolve_types(ins, outs)
        shape = np.broadcast_shapes(*(a.shape for a in ins + outs if isinstance(a, ndarray)))
        if any(o.shape != shape for o in outs):
            raise ValueError("Out shape is mismatched")
        LAUNCHES[self.name] += 1
        signature = (tuple(sorted(types.items())), tuple(isinstance(a, ndarray) for a in ins))
        if signature not in self._functions:
            self._functions[signature] = self._compile(types, signature[1])
        function = self._functions[signature]
        values, keep = [ctypes.c_longlong(int(np.prod(shape)))], []
        for (kind, _), value in zip(self.in_params, ins):
            dtype = types.get(kind, None) or np.dtype(kind)
            if isinstance(value, ndarray):
                host = np.ascontiguousarray(np.broadcast_to(value._a, shape), dtype=dtype)
                keep.append(host)
                values.append(ctypes.c_void_p(host.ctypes.data))
            else:
                values.append(_C_TYPES[dtype][1](dtype.type(value)))
        written = []
        for out in outs:
            host = out._a if out._a.flags.c_contiguous else np.ascontiguousarray(out._a)
            written.append((out, host))
            values.append(ctypes.c_void_p(host.ctypes.data))
        function(*values)
        for out, host in written:
            if host is not out._a:
                out._a[...] = host
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _resolve_types(self, ins: tuple, outs: tuple) -> dict[str, np.dtype]:
        types: dict[str, np.dtype] = {}
        for (kind, name), value in list(zip(self.out_params, outs)) + list(zip(self.in_params, ins)):
            if not isinstance(value, ndarray):
                continue  # scalars do not decide types; they are cast to them
            if len(kind) > 1:
                if value.dtype != np.dtype(kind):
                    raise TypeError(f"Type is mismatched. {name} {value.dtype} {kind}")
            elif types.setdefault(kind, value.dtype) != value.dtype:
                raise TypeError(f"Type is mismatched. {name} {value.dtype} {types[kind]} {kind}")
        for kind, name in self.in_params + self.out_params:
            if len(kind) == 1 and kind not in types:
                raise TypeError(f"{self.name}: the type of {name} ({kind}) is not decided by any array argument")
        return types

    def _compile(self, types: dict[str, np.dtype], array_inputs: tuple[bool, ...]) -> Any:
        if not HAVE_COMPILER:
            raise RuntimeError("the stand-in ElementwiseKernel needs a C++ compiler (g++), and none was found")
        c_name = {kind: _C_TYPES[dtype][0] for kind, dtype in types.items()}
        params, refs = ["long long _size"], []
        for (kind, name), is_array in zip(self.in_params, array_inputs):
            ctype = c_name.get(kind) or _C_TYPES[np.dtype(kind)][0]
            params.append(f"const {ctype}* _raw_{name}" if is_array else f"{ctype} {name}")
            if is_array:
                refs.append(f"const {ctype} &{name} = _raw_{name}[i];")
        for kind, name in self.out_params:
            ctype = c_name.get(kind) or _C_TYPES[np.dtype(kind)][0]
            params.append(f"{ctype}* _raw_{name}")
            refs.append(f"{ctype} &{name} = _raw_{name}[i];")
        typedefs = "".join(f"typedef {c} {kind};\n" for kind, c in sorted(c_name.items()))
        source = (
            # <cmath>'s macros that NVRTC does not define are removed, so a body using one fails here too
            "#include <cmath>\nusing namespace std;\n#define __device__\n#undef INFINITY\n#undef NAN\n#undef HUGE_VAL\n"
            f"{typedefs}{self.preamble}\n"
            f'extern "C" void {self.name}({", ".join(params)}) {{\n'
            "  for (long long i = 0; i < _size; ++i) {\n    "
            + "\n    ".join(refs)
            + f"\n    {self.operation};\n  }}\n}}\n"
        )
        return getattr(_load(source), self.name)


def _load(source: str) -> Any:
    """Compile C++ source into a shared library once per distinct source; returns the loaded library."""
    global _BUILD_DIR
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    if key not in _LIBRARIES:
        if _BUILD_DIR is None:  # one folder per process, removed when it exits
            _BUILD_DIR = tempfile.mkdtemp(prefix="fake_cupy_")
            atexit.register(shutil.rmtree, _BUILD_DIR, ignore_errors=True)
        src, lib = os.path.join(_BUILD_DIR, f"{key}.cpp"), os.path.join(_BUILD_DIR, f"{key}.so")
        with open(src, "w", encoding="utf-8") as handle:
            handle.write(source)
        # -ffp-contract=off: no fused multiply-add, so each operation rounds as written (as NumPy does)
        command = [COMPILER, "-shared", "-fPIC", "-O1", "-ffp-contract=off", "-o", lib, src]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"kernel failed to compile:\n{result.stderr}\n--- source ---\n{source}")
        _LIBRARIES[key] = ctypes.CDLL(lib)
    return _LIBRARIES[key]
