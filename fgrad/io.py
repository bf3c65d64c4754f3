"""``fgrad.io``: save a pytree of arrays to one ``.npz`` file and load it back.

::

    fgrad.io.save("ckpt.npz", {"params": params, "opt_state": opt_state})
    restored = fgrad.io.load("ckpt.npz", like={"params": params0, "opt_state": state0})

The file is an ordinary NumPy ``.npz`` archive: one entry per leaf, named by the
leaf's key path (``keystr``, e.g. ``['params'][0]['w']`` or
``['opt_state'][1][0].mu['w']``), plus one entry ``__fgrad_checkpoint__`` holding
a JSON description (format name and version, each entry's path, shape and dtype).
It holds arrays only: nothing is pickled when saving, and loading never unpickles
(``allow_pickle=False``), so a checkpoint from elsewhere cannot run code.

Loading needs a template (``like``) of the structure to rebuild, as with orbax
or ``flax.serialization``: the file gives the values, the template the
containers. The whole file is read and checked against its own description and
against the template before anything is returned, so a truncated, corrupt or
mismatched file raises :class:`CheckpointError` naming the first offending path,
never a half-restored tree. See ``docs/io.md``.
"""

from __future__ import annotations

import io as _stdio
import json
import os
import tempfile
from typing import Any

import numpy as np

from fgrad.core.backend import device_get
from fgrad.core.errors import CheckpointError
from fgrad.core.key_paths import keystr, tree_flatten_with_path, tree_leaves_with_path
from fgrad.core.pytree import PyTree
from fgrad.core.tracer import Tracer

__all__ = ["CheckpointError", "load", "save"]

FORMAT = "fgrad.io"
"""The ``format`` field of the description entry."""

VERSION = 1
"""The version of the layout written by :func:`save`; :func:`load` reads versions up to it."""

_META = "__fgrad_checkpoint__"
# keystr paths start with "[" or "." (or are "" for a single-leaf tree), so this
# entry name cannot collide with a leaf's.

_PYTHON_SCALARS = (bool, int, float, complex)
# Dtype kinds that .npz stores as raw bytes: no object ("O") arrays, which need
# pickle, and no structured ("V") ones, whose layout the description does not keep.
_STORABLE_KINDS = frozenset("biufcUSmM")


def _npz_path(path: str | os.PathLike) -> str:
    """``path`` as a string ending in ``.npz`` (added when missing, as ``np.savez`` does)."""
    name = os.fsdecode(os.fspath(path))
    return name if name.endswith(".npz") else name + ".npz"


def _host_array(leaf: Any, name: str) -> np.ndarray:
    """The NumPy array :func:`save` writes for ``leaf`` (at path ``name``)."""
    if isinstance(leaf, Tracer):
        raise CheckpointError(
            f"fgrad.io.save: the leaf at {name or '(root)'} is a traced value; save concrete "
            "arrays, outside jit, grad and vmap (return the tree from the jitted step "
            "and save it afterwards)"
        )
    if not (isinstance(leaf, _PYTHON_SCALARS) or hasattr(leaf, "dtype")):
        raise CheckpointError(
            f"fgrad.io.save: the leaf at {name or '(root)'} is a {type(leaf).__name__}; "
            "checkpoints hold arrays and numbers only. Make it static (aux data of a "
            "registered node, a meta field of a dataclass) or leave it out of the tree"
        )
    try:
        arr = np.asarray(device_get(leaf))
    except OverflowError as e:
        raise CheckpointError(
            f"fgrad.io.save: the integer at {name or '(root)'} does not fit in int64: {e}"
        ) from e
    if arr.dtype.kind not in _STORABLE_KINDS:
        raise CheckpointError(
            f"fgrad.io.save: the leaf at {name or '(root)'} has dtype {arr.dtype}, which "
            "an .npz file can only hold by pickling; store numeric or string arrays"
        )
    return arr


def save(path: str | os.PathLike, tree: PyTree) -> str:
    """Write the leaves of ``tree`` to one ``.npz`` file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The file. ``.npz`` is appended when the name does not end with it (as
        ``np.savez`` does; :func:`load` appends it the same way).
    tree : pytree
        Containers of arrays (NumPy or CuPy, copied to the host), NumPy scalars
        and Python ``bool``/``int``/``float``/``complex``. ``None`` and empty
        containers hold no leaf and write no entry.

    Returns
    -------
    str
        The path written, with its ``.npz`` suffix.

    Raises
    ------
    CheckpointError
        If a leaf cannot be stored without pickling (an object, a string, an
        object array), is a traced value, or two leaves' paths print the same.

    Notes
    -----
    The archive is written to a temporary file in the same directory and moved
    over ``path`` with ``os.replace``, so a crash mid-write leaves the previous
    checkpoint intact, never a partial one.
    """
    path = _npz_path(path)
    entries: dict[str, np.ndarray] = {}
    described = []
    for keys, leaf in tree_leaves_with_path(tree):
        name = keystr(keys)
        if name in entries:
            raise CheckpointError(
                f"fgrad.io.save: two leaves have the path {name!r} as text (keys of "
                "different types that print alike); rename one so entries are unique"
            )
        arr = _host_array(leaf, name)
        entries[name] = arr
        described.append({"path": name, "shape": list(arr.shape), "dtype": arr.dtype.str})
    meta = {"format": FORMAT, "version": VERSION, "entries": described}
    entries[_META] = np.array(json.dumps(meta))
    _write_atomically(path, entries)
    return path


def _write_atomically(path: str, entries: dict[str, np.ndarray]) -> None:
    directory, base = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **entries)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_archive(path: str) -> dict[str, np.ndarray]:
    """Every entry of the archive at ``path``, read into memory (no pickles)."""
    with open(path, "rb") as f:
        data = f.read()
    # np.load would try anything that is neither a zip nor a .npy file as a pickle
    # (and refuse it); sorting by signature first gives each case its own message.
    if data.startswith(b"\x93NUMPY"):
        raise CheckpointError(
            f"fgrad.io.load: {path} holds a single .npy array, not an .npz checkpoint "
            "written by fgrad.io.save"
        )
    if data[:1] == b"\x80":
        raise CheckpointError(
            f"fgrad.io.load: {path} looks like a Python pickle; fgrad never loads pickled "
            "data because unpickling can run arbitrary code"
        )
    if not data.startswith(b"PK"):
        raise CheckpointError(
            f"fgrad.io.load: {path} is not an .npz archive (it does not start with the zip "
            f"signature; its first bytes are {data[:8]!r}); it is damaged or another kind of file"
        )
    try:
        with np.load(_stdio.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except ValueError as e:
        if "pickle" in str(e):
            raise CheckpointError(
                f"fgrad.io.load: {path} contains pickled (object) data, which fgrad never "
                "loads because unpickling can run arbitrary code; it was not written by "
                "fgrad.io.save"
            ) from e
        raise CheckpointError(f"fgrad.io.load: {path} is not a readable .npz file: {e}") from e
    # A damaged archive fails inside zipfile or numpy in many ways (BadZipFile on a
    # truncated directory or a bad CRC, EOFError, zlib.error, struct.error, ...); to
    # the user they all mean the same.
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(
            f"fgrad.io.load: {path} is truncated or corrupt ({type(e).__name__}: {e}); "
            "nothing was restored. Load an earlier checkpoint"
        ) from e


def _read_description(arrays: dict[str, np.ndarray], path: str) -> list[dict]:
    """The entry list of the description entry, checked against the archive itself."""
    raw = arrays.pop(_META, None)
    if raw is None:
        raise CheckpointError(
            f"fgrad.io.load: {path} has no {_META} entry, so it was not written by "
            "fgrad.io.save (or the entry was removed); the structure cannot be checked"
        )
    try:
        meta = json.loads(str(raw[()])) if raw.ndim == 0 and raw.dtype.kind == "U" else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"fgrad.io.load: the {_META} entry of {path} is damaged")
    version = meta.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"fgrad.io.load: {path} has format version {version!r}, but this fgrad reads "
            f"versions up to {VERSION}; upgrade fgrad to load it"
        )
    entries = meta.get("entries")
    if not isinstance(entries, list):
        raise CheckpointError(f"fgrad.io.load: the {_META} entry of {path} is damaged")
    for e in entries:
        name = e.get("path") if isinstance(e, dict) else None
        if not isinstance(name, str) or name not in arrays:
            raise CheckpointError(
                f"fgrad.io.load: {path} describes an entry {name!r} that is not in the "
                "archive; the file was damaged or edited after fgrad.io.save wrote it"
            )
        arr = arrays[name]
        if list(arr.shape) != e.get("shape") or arr.dtype.str != e.get("dtype"):
            raise CheckpointError(
                f"fgrad.io.load: entry {name!r} of {path} has shape {arr.shape} and dtype "
                f"{arr.dtype}, not the shape {e.get('shape')} and dtype {e.get('dtype')} the "
                "file describes; the file was damaged or edited"
            )
    undescribed = sorted(set(arrays) - {e["path"] for e in entries})
    if undescribed:
        raise CheckpointError(
            f"fgrad.io.load: {path} has entries its description does not list "
            f"({undescribed[:3]}); the file was edited after fgrad.io.save wrote it"
        )
    return entries


def _template_spec(leaf: Any, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype the file's entry must have for template leaf ``leaf``."""
    if isinstance(leaf, _PYTHON_SCALARS):
        return (), np.asarray(leaf).dtype
    if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
        return tuple(leaf.shape), np.dtype(leaf.dtype)
    raise CheckpointError(
        f"fgrad.io.load: the template leaf at {name or '(root)'} is a {type(leaf).__name__}; "
        "template leaves must be arrays, numbers or shape/dtype structs"
    )


def _restore_leaf(arr: np.ndarray, like: Any) -> Any:
    """``arr`` as the kind of value the template leaf ``like`` is (see the module doc)."""
    if isinstance(like, _PYTHON_SCALARS):
        return arr.item()
    if isinstance(like, np.generic):
        return arr[()]
    return arr


def load(path: str | os.PathLike, like: PyTree) -> PyTree:
    """Read a checkpoint written by :func:`save` into the structure of ``like``.

    Parameters
    ----------
    path : str or os.PathLike
        The file; ``.npz`` is appended when missing, as :func:`save` does.
    like : pytree
        A template with the structure of the saved tree: the same containers
        and, for every leaf, an array (or number, or object with ``shape`` and
        ``dtype``) of the saved shape and dtype. Typically the freshly
        initialised parameters and optimiser state. Its values are not read.

    Returns
    -------
    pytree
        ``like``'s structure holding the file's values, exactly as saved. Each
        leaf comes back as the template's kind of leaf: a NumPy array where the
        template has an array (also a 0-d one), a NumPy scalar where it has a
        NumPy scalar, a Python ``bool``/``int``/``float``/``complex`` where it has
        one (so NumPy's promotion rules, which treat Python numbers as weak,
        act the same after a resume).

    Raises
    ------
    CheckpointError
        If the file is truncated, corrupt, holds pickled data or was not written
        by :func:`save`; or if it does not match ``like``: an entry the template
        has is missing, the file has an entry the template lacks, or an entry's
        shape or dtype differs. The message names the first such path. Nothing
        is returned partially: the whole file is read and checked first.
    FileNotFoundError
        If there is no file at ``path``.
    """
    path = _npz_path(path)
    arrays = _read_archive(path)
    entries = _read_description(arrays, path)
    pairs, treedef = tree_flatten_with_path(like)
    leaves, expected = [], set()
    for keys, like_leaf in pairs:
        name = keystr(keys)
        expected.add(name)
        shape, dtype = _template_spec(like_leaf, name)
        arr = arrays.get(name)
        if arr is None:
            saved = [e["path"] for e in entries]
            raise CheckpointError(
                f"fgrad.io.load: {path} has no entry {name!r}, which the template has; the "
                f"file holds {len(saved)} entries ({', '.join(saved[:4])}"
                f"{', ...' if len(saved) > 4 else ''}). Build `like` as the saved tree was "
                "built (same model and optimiser configuration)"
            )
        if arr.shape != shape:
            raise CheckpointError(
                f"fgrad.io.load: entry {name!r} of {path} has shape {arr.shape}, but the "
                f"template's leaf has shape {shape}; build `like` with the saved sizes"
            )
        if arr.dtype != dtype:
            raise CheckpointError(
                f"fgrad.io.load: entry {name!r} of {path} has dtype {arr.dtype}, but the "
                f"template's leaf has dtype {dtype}; load with a template of dtype "
                f"{arr.dtype} and cast afterwards if you want {dtype}"
            )
        leaves.append(_restore_leaf(arr, like_leaf))
    extra = [e["path"] for e in entries if e["path"] not in expected]
    if extra:
        raise CheckpointError(
            f"fgrad.io.load: {path} has an entry {extra[0]!r} that the template lacks"
            f"{f' (and {len(extra) - 1} more)' if len(extra) > 1 else ''}; the file was "
            "saved from a larger tree. Build `like` as the saved tree was built"
        )
    return treedef.unflatten(leaves)
