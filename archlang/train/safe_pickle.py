"""Reading the pickles of data files (CIFAR-10's python batches) without trusting them.

A pickle is a program: besides running code (``os.system``) it can make the
reader allocate from sizes it merely declares. This reader allows neither:

- the opcodes are walked first (``pickletools.genops`` builds nothing), and a
  file is refused that uses what a data file never needs (extensions,
  persistent ids, classes built by ``INST``/``OBJ``/``NEWOBJ``) or names a memo
  slot beyond the objects built so far (the C unpickler grows its memo to the
  index: one 5-byte ``LONG_BINPUT`` would cost gigabytes);
- every byte string the opcodes declare must be in the file (``genops`` reads
  it), so nothing is allocated from a length alone;
- only the constructors numpy's own pickles use can be named, each checked:
  ``_reconstruct`` makes an array of at most a few bytes (numpy's pickles make
  an empty one and fill it from bytes in the file), ``numpy.ndarray`` cannot be
  called at all (only handed to ``_reconstruct``), ``numpy.dtype`` takes plain
  numeric types only, ``_codecs.encode`` only turns text into Latin-1 bytes;
- and the caller checks the shape of what it gets (a dict of one uint8 array
  and a flat list of ints) before walking it, so a list that holds itself a
  million times is refused instead of being expanded.

>>> import io, pickle, numpy as np
>>> blob = pickle.dumps({b"data": np.zeros((2, 3), np.uint8), b"labels": [0, 1]}, protocol=2)
>>> sorted(loads(blob))
[b'data', b'labels']
>>> try:
...     loads(b"cos\\nsystem\\n(S'true'\\ntR.")
... except PickleRefused as refused:
...     print(refused)
it names os.system, which a data file never needs
"""
from __future__ import annotations

import io
import math
import pickle
import pickletools

import numpy as np

# Opcodes a data file never needs: classes built from the pickle, the copyreg
# extension registry, persistent ids, out-of-band buffers.
FORBIDDEN_OPS = {"INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID",
                 "NEXT_BUFFER", "READONLY_BUFFER"}
PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
DTYPES = {"b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8"}
# A CIFAR-10 batch of 10,000 images is about 40,000 opcodes (a label and a file name each);
# a list of a billion small ints would be 2 GB of file but 8 GB of pointers and minutes of work.
MAX_OPS = 4_000_000
RECONSTRUCT_BYTES = 64  # numpy's pickles reconstruct an empty array, then fill it from the file's bytes


class PickleRefused(Exception):
    """The pickle asks for something a data file never needs."""


class _NdarrayType:
    """Stands for ``numpy.ndarray`` in a pickle: may be handed to ``_reconstruct``, never called."""

    def __new__(cls, *args, **kwargs):
        raise PickleRefused("it calls numpy.ndarray directly, allocating from a declared shape")


def _reconstruct(subtype, shape, dtype):
    if subtype is not _NdarrayType:
        raise PickleRefused(f"it reconstructs an array of type {_name(subtype)}")
    dtype = _dtype(dtype)
    if (not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape)
            or math.prod(shape) * dtype.itemsize > RECONSTRUCT_BYTES):
        raise PickleRefused(f"it reconstructs an array of shape {_short(shape)}: numpy's own pickles "
                            "start from an empty one")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _dtype(name, align=False, copy=False):
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    if isinstance(name, str):
        name = name.lstrip("<>|=")
        name = {"b": "i1", "B": "u1"}.get(name, name)
    if name not in DTYPES:
        raise PickleRefused(f"it asks for numpy dtype {_short(name)}; a data file holds plain numbers")
    return np.dtype(name)


def _frombuffer(buffer, dtype, shape, order):
    array = np.frombuffer(buffer, _dtype(dtype.str if isinstance(dtype, np.dtype) else dtype))
    return array.reshape(shape, order=order)


def _encode(text, encoding="utf-8", errors="strict"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise PickleRefused(f"it encodes {type(text).__name__} as {_short(encoding)}")
    return text.encode("latin-1")


CONSTRUCTORS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _NdarrayType,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _encode,
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return CONSTRUCTORS[(module, name)]
        except KeyError:
            raise PickleRefused(f"it names {_short(module)}.{_short(name)}, which a data file never needs") from None


def scan(blob: bytes) -> int:
    """Walk the opcodes without building anything; returns how many there are, or raises PickleRefused."""
    count = 0
    try:
        for op, arg, pos in pickletools.genops(io.BytesIO(blob)):
            if op.name in FORBIDDEN_OPS:
                raise PickleRefused(f"it uses the opcode {op.name}, which a data file never needs")
            if op.name in PUT_OPS and arg > count:
                raise PickleRefused(f"it stores into memo slot {arg} after {count} opcodes (the reader would "
                                    "allocate a memo that large)")
            if op.name == "FRAME" and arg > len(blob) - pos:
                raise PickleRefused(f"it declares a frame of {arg:,} bytes with {len(blob) - pos:,} left in the file")
            count += 1
            if count > MAX_OPS:
                raise PickleRefused(f"it has more than {MAX_OPS:,} opcodes; a data file holds arrays, "
                                    "not millions of objects")
    except PickleRefused:
        raise
    except Exception as exc:  # pickletools raises ValueError for truncated or unknown opcodes
        raise PickleRefused(f"it is not a complete pickle ({exc})") from None
    return count


def loads(blob: bytes):
    """Unpickle `blob` with the checks above; raises PickleRefused, or ValueError/TypeError from numpy."""
    scan(blob)
    try:
        return _Unpickler(io.BytesIO(blob), encoding="bytes").load()
    except PickleRefused:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, IndexError, KeyError, ValueError, TypeError,
            OverflowError, MemoryError) as exc:
        raise PickleRefused(f"it cannot be read ({type(exc).__name__}: {_short(exc)})") from None


def _name(obj) -> str:
    return getattr(obj, "__qualname__", type(obj).__name__)


def _short(value, limit: int = 60) -> str:
    text = repr(value) if not isinstance(value, (str, Exception)) else str(value)
    return text if len(text) <= limit else text[:limit] + "..."
