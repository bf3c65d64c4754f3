"""Key paths (``fgrad.tree_util``) and checkpoints (``fgrad.io``).

Key paths are checked against hand-written strings and, optionally, against JAX's
for the same trees. Checkpoints are checked for exact round trips, for clear
errors on every kind of damaged or mismatched file (never a partial result, never
an unpickled object), and for bit-identical resumption of training.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import json
import os
import pathlib
import pickle
import zipfile

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import nn, optim
from fgrad import tree_util as tu
from fgrad.io import CheckpointError

Pair = collections.namedtuple("Pair", ["w", "b"])


class Box:
    """A custom node registered without key names: children get FlattenedIndexKey."""

    def __init__(self, a, b):
        self.a, self.b = a, b


class Named:
    """A custom node registered with key names."""

    def __init__(self, x, y):
        self.x, self.y = x, y


@dataclasses.dataclass
class Layer:
    kernel: object
    bias: object
    act: str = dataclasses.field(default="relu", metadata={"static": True})


def _box_flatten(b):
    return (b.a, b.b), None


def _box_unflatten(aux, children):
    return Box(*children)


def _named_flatten_with_keys(n):
    return ((tu.GetAttrKey("x"), n.x), (tu.GetAttrKey("y"), n.y)), "aux"


def _named_unflatten(aux, children):
    return Named(*children)


tu.register_pytree_node(Box, _box_flatten, _box_unflatten)
tu.register_pytree_with_keys(Named, _named_flatten_with_keys, _named_unflatten)


def nested_tree():
    return {
        "b": [1, (2, None), Pair(3, [4])],
        "a": {"z": 5, "y": 6},
        "box": Box(7, [8, 9]),
        "named": Named(10, {"k": 11}),
        "none": None,
        "empty": [],
    }


# --------------------------------------------------------------------------------------
# key paths
# --------------------------------------------------------------------------------------
def test_paths_of_every_builtin_container_and_custom_nodes():
    pairs, treedef = tu.tree_flatten_with_path(nested_tree())
    assert [tu.keystr(p) for p, _ in pairs] == [
        "['a']['y']",
        "['a']['z']",
        "['b'][0]",
        "['b'][1][0]",
        "['b'][2].w",
        "['b'][2].b[0]",
        "['box'][<flat index 0>]",
        "['box'][<flat index 1>][0]",
        "['box'][<flat index 1>][1]",
        "['named'].x",
        "['named'].y['k']",
    ]
    assert [leaf for _, leaf in pairs] == [6, 5, 1, 2, 3, 4, 7, 8, 9, 10, 11]
    assert treedef == tu.tree_structure(nested_tree())
    first = pairs[4][0]
    assert first == (tu.DictKey("b"), tu.SequenceKey(2), tu.GetAttrKey("w"))
    assert (first[0].key, first[1].idx, first[2].name) == ("b", 2, "w")
    assert tu.keystr(first, simple=True, separator="/") == "b/2/w"
    assert tu.keystr(pairs[6][0], simple=True, separator="/") == "box/0"


def test_ordered_dict_defaultdict_and_dataclasses():
    tree = [
        collections.OrderedDict([("q", 1), ("p", 2)]),
        collections.defaultdict(list, {"q": 3, "p": 4}),
        Layer(kernel=5, bias=6),
    ]
    paths = [tu.keystr(p) for p, _ in tu.tree_leaves_with_path(tree)]
    # OrderedDict keeps insertion order, defaultdict sorts; the static field is no leaf.
    assert paths == ["[0]['q']", "[0]['p']", "[1]['p']", "[1]['q']", "[2].kernel", "[2].bias"]


def test_optimiser_states_get_field_names():
    params = {"w": np.zeros(2), "b": np.zeros(1)}
    state = optim.chain(optim.clip_by_global_norm(1.0), optim.adam(1e-3)).init(params)
    paths = [tu.keystr(p) for p, _ in tu.tree_leaves_with_path(state)]
    assert paths == [
        "[1][0].count",
        "[1][0].mu['b']",
        "[1][0].mu['w']",
        "[1][0].nu['b']",
        "[1][0].nu['w']",
    ]


def test_key_types_compare_hash_and_stay_leaves():
    assert tu.DictKey(1) != tu.SequenceKey(1)
    assert tu.DictKey("a") == tu.DictKey("a") and hash(tu.DictKey("a")) == hash(tu.DictKey("a"))
    assert len({tu.GetAttrKey("w"), tu.GetAttrKey("w"), tu.FlattenedIndexKey(0)}) == 2
    assert repr(tu.SequenceKey(3)) == "SequenceKey(idx=3)"
    assert str(tu.FlattenedIndexKey(2)) == "[<flat index 2>]"
    with pytest.raises(AttributeError):
        tu.DictKey("a").key = "b"
    pairs = tu.tree_leaves_with_path({"a": [7]})
    assert tu.tree_leaves(pairs) == [tu.DictKey("a"), tu.SequenceKey(0), 7]


def test_root_leaf_and_is_leaf():
    assert tu.tree_leaves_with_path(5) == [((), 5)]
    assert tu.keystr(()) == ""
    tree = {"p": (1, 2), "q": [3]}
    pairs = tu.tree_leaves_with_path(tree, is_leaf=lambda x: isinstance(x, tuple))
    assert pairs == [((tu.DictKey("p"),), (1, 2)), ((tu.DictKey("q"), tu.SequenceKey(0)), 3)]


def test_tree_map_with_path_passes_paths_and_further_trees():
    tree = {"w": [1.0, 2.0], "b": 3.0}
    scaled = tu.tree_map_with_path(
        lambda p, x, y: x * y if tu.keystr(p).startswith("['w']") else x, tree, tree
    )
    assert scaled == {"w": [1.0, 4.0], "b": 3.0}
    with pytest.raises(ValueError, match="tree argument 1 after the first"):
        tu.tree_map_with_path(lambda p, x, y: x, tree, {"w": [1.0], "b": 3.0})


def test_register_pytree_with_keys_class_and_inconsistent_keys():
    @tu.register_pytree_with_keys_class
    class Two:
        def __init__(self, u, v):
            self.u, self.v = u, v

        def tree_flatten_with_keys(self):
            return ((tu.DictKey("u"), self.u), (tu.DictKey("v"), self.v)), None

        @classmethod
        def tree_unflatten(cls, aux, children):
            return cls(*children)

    assert [tu.keystr(p) for p, _ in tu.tree_leaves_with_path(Two(1, 2))] == ["['u']", "['v']"]
    doubled = fgrad.tree_map(lambda x: 2 * x, Two(1, 2))
    assert (doubled.u, doubled.v) == (2, 4)

    class Bad:
        def __init__(self, a):
            self.a = a

    tu.register_pytree_with_keys(
        Bad,
        lambda b: (((tu.GetAttrKey("a"), b.a),), None),
        lambda aux, ch: Bad(*ch),
        flatten_func=lambda b: ((b.a, b.a), None),
    )
    with pytest.raises(ValueError, match="flatten_with_keys registered for .*Bad gives 1"):
        tu.tree_leaves_with_path(Bad(1))


def test_key_paths_match_jax():
    jax = pytest.importorskip("jax")
    jtu = jax.tree_util

    class JBox(Box):
        pass

    class JNamed(Named):
        pass

    jtu.register_pytree_node(JBox, _box_flatten, lambda aux, ch: JBox(*ch))
    jtu.register_pytree_with_keys(
        JNamed,
        lambda n: (((jtu.GetAttrKey("x"), n.x), (jtu.GetAttrKey("y"), n.y)), None),
        lambda aux, ch: JNamed(*ch),
    )
    tu.register_pytree_node(JBox, _box_flatten, lambda aux, ch: JBox(*ch))
    tu.register_pytree_with_keys(JNamed, _named_flatten_with_keys, lambda aux, ch: JNamed(*ch))

    @jax.tree_util.register_dataclass
    @dataclasses.dataclass
    class JLayer:
        kernel: object
        bias: object
        act: str = dataclasses.field(default="relu", metadata={"static": True})

    tree = {
        "b": [1, (2, None), Pair(3, [4])],
        "a": {"z": 5, "y": 6},
        "box": JBox(7, [8, JLayer(9, 10)]),
        "named": JNamed(11, {"k": (12,)}),
        "odict": collections.OrderedDict([("q", 13), ("p", 14)]),
        "ddict": collections.defaultdict(list, {"q": 15, "p": [16]}),
        "none": None,
        "empty": {},
    }
    ours = tu.tree_leaves_with_path(tree)
    theirs = jtu.tree_leaves_with_path(tree)
    assert [leaf for _, leaf in ours] == [leaf for _, leaf in theirs]
    assert [tu.keystr(p) for p, _ in ours] == [jtu.keystr(p) for p, _ in theirs]
    assert [repr(p) for p, _ in ours] == [repr(p) for p, _ in theirs]
    for sep in ("", "/", "."):
        assert [tu.keystr(p, simple=True, separator=sep) for p, _ in ours] == [
            jtu.keystr(p, simple=True, separator=sep) for p, _ in theirs
        ]
    mapped = tu.tree_map_with_path(lambda p, x: (tu.keystr(p), x), tree)
    jmapped = jtu.tree_map_with_path(lambda p, x: (jtu.keystr(p), x), tree)
    assert tu.tree_leaves(mapped, is_leaf=lambda x: isinstance(x, tuple) and len(x) == 2) == (
        jtu.tree_leaves(jmapped, is_leaf=lambda x: isinstance(x, tuple) and len(x) == 2)
    )


# --------------------------------------------------------------------------------------
# save / load round trips
# --------------------------------------------------------------------------------------
def mixed_tree():
    rng = np.random.default_rng(0)
    nan_payload = np.array([0x7FF8_0000_DEAD_BEEF], dtype=np.uint64).view(np.float64)
    return {
        "w": rng.normal(size=(3, 4)).astype(np.float32),
        "b": np.array([1 + 2j, -3j], dtype=np.complex64),
        "i": np.arange(5, dtype=np.int32),
        "mask": np.array([True, False]),
        "empty": np.zeros((0, 3), np.float16),
        "zero_d": np.array(2.5),
        "nan": nan_payload,
        "np_scalar": np.float32(0.1),
        "py": [1.25, 7, True, 2 - 1j],
        "state": Pair(w=np.uint8(200), b=None),
        "nothing": None,
        "no_leaves": {"l": [], "t": ()},
        "layer": Layer(kernel=np.eye(2), bias=np.zeros(2)),
    }


def assert_identical(a, b):
    la, ta = fgrad.tree_flatten(a)
    lb, tb = fgrad.tree_flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        assert type(x) is type(y), (x, y)
        if isinstance(x, (np.ndarray, np.generic)):
            assert x.dtype == y.dtype and np.shape(x) == np.shape(y)
            assert np.asarray(x).tobytes() == np.asarray(y).tobytes()
        else:
            assert x == y


def test_round_trip_is_exact_and_keeps_the_template_leaf_kinds(tmp_path):
    tree = mixed_tree()
    written = fgrad.io.save(tmp_path / "ckpt.npz", tree)
    assert written == str(tmp_path / "ckpt.npz")
    template = fgrad.tree_map(
        lambda x: np.zeros_like(x) if isinstance(x, np.ndarray) else type(x)(0), tree
    )
    restored = fgrad.io.load(tmp_path / "ckpt.npz", like=template)
    assert_identical(restored, tree)
    assert isinstance(restored["py"][0], float) and isinstance(restored["py"][2], bool)
    assert isinstance(restored["np_scalar"], np.float32)
    assert isinstance(restored["zero_d"], np.ndarray) and restored["zero_d"].ndim == 0
    assert restored["layer"].act == "relu"


def test_entries_are_named_by_keystr_and_described(tmp_path):
    tree = mixed_tree()
    path = fgrad.io.save(tmp_path / "c.npz", tree)
    names = [tu.keystr(p) for p, _ in tu.tree_leaves_with_path(tree)]
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(names + ["__fgrad_checkpoint__"])
        meta = json.loads(str(npz["__fgrad_checkpoint__"]))
        np.testing.assert_array_equal(npz["['w']"], tree["w"])
    assert meta["format"] == "fgrad.io" and meta["version"] == 1
    assert [e["path"] for e in meta["entries"]] == names
    w = next(e for e in meta["entries"] if e["path"] == "['w']")
    assert w["shape"] == [3, 4] and np.dtype(w["dtype"]) == np.float32


def test_single_leaf_empty_tree_and_suffix_handling(tmp_path):
    x = np.arange(6.0).reshape(2, 3)
    fgrad.io.save(str(tmp_path / "root"), x)  # suffix added, as np.savez does
    assert os.listdir(tmp_path) == ["root.npz"]
    np.testing.assert_array_equal(fgrad.io.load(tmp_path / "root", like=np.zeros((2, 3))), x)
    fgrad.io.save(pathlib.Path(tmp_path / "empty.npz"), {"a": None, "b": []})
    assert fgrad.io.load(tmp_path / "empty.npz", like={"a": None, "b": []}) == {"a": None, "b": []}


def test_template_may_be_shape_dtype_structs(tmp_path):
    class Spec:
        def __init__(self, shape, dtype):
            self.shape, self.dtype = shape, dtype

    fgrad.io.save(tmp_path / "s", {"w": np.ones((2, 2), np.float32)})
    restored = fgrad.io.load(tmp_path / "s", like={"w": Spec((2, 2), np.float32)})
    np.testing.assert_array_equal(restored["w"], np.ones((2, 2), np.float32))


def test_writing_is_atomic_and_a_failed_save_keeps_the_old_file(tmp_path):
    path = tmp_path / "c.npz"
    fgrad.io.save(path, {"w": np.zeros(3)})
    fgrad.io.save(path, {"w": np.ones(3)})  # overwrite
    assert os.listdir(tmp_path) == ["c.npz"]
    with pytest.raises(CheckpointError, match=r"leaf at \['w'\] is a str"):
        fgrad.io.save(path, {"w": "not an array"})
    with pytest.raises(CheckpointError, match=r"\['o'\] has dtype object"):
        fgrad.io.save(path, {"o": np.array([object()], dtype=object)})
    assert os.listdir(tmp_path) == ["c.npz"]  # no temporary file left behind
    np.testing.assert_array_equal(fgrad.io.load(path, like={"w": np.zeros(3)})["w"], np.ones(3))


def test_saving_traced_values_is_refused(tmp_path):
    def f(x):
        fgrad.io.save(tmp_path / "t", {"x": x})
        return x

    with pytest.raises(CheckpointError, match="traced value"):
        fgrad.jit(f)(np.ones(2))


def test_keys_that_print_alike_are_refused(tmp_path):
    class Odd:
        def __repr__(self):
            return "'a'"

        def __lt__(self, other):
            return False

    with pytest.raises(CheckpointError, match="print alike"):
        fgrad.io.save(tmp_path / "d", collections.OrderedDict([("a", 1), (Odd(), 2)]))


# --------------------------------------------------------------------------------------
# mismatches with the template
# --------------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    tree = {"layers": [{"W": np.ones((2, 3)), "b": np.zeros(3)}], "step": np.int32(4)}
    return fgrad.io.save(tmp_path / "m", tree), tree


def test_missing_entry_names_the_path(saved):
    path, tree = saved
    like = {**tree, "extra": np.zeros(1)}
    with pytest.raises(CheckpointError, match=r"has no entry \"\['extra'\]\".*same model"):
        fgrad.io.load(path, like=like)


def test_extra_entry_names_the_path(saved):
    path, tree = saved
    like = {"layers": [{"W": np.ones((2, 3))}], "step": np.int32(0)}
    with pytest.raises(CheckpointError, match=r"entry \"\['layers'\]\[0\]\['b'\]\" that the"):
        fgrad.io.load(path, like=like)


def test_shape_and_dtype_mismatches_name_the_path(saved):
    path, tree = saved
    like = {"layers": [{"W": np.ones((3, 3)), "b": np.zeros(3)}], "step": np.int32(0)}
    with pytest.raises(CheckpointError, match=r"\['layers'\]\[0\]\['W'\]\" .* shape \(2, 3\)"):
        fgrad.io.load(path, like=like)
    like = {"layers": [{"W": np.ones((2, 3), np.float32), "b": np.zeros(3)}], "step": 0}
    with pytest.raises(CheckpointError, match=r"\['W'\]\" .*dtype float64, but .*float32"):
        fgrad.io.load(path, like=like)
    like = {"layers": [{"W": np.ones((2, 3)), "b": np.zeros(3)}], "step": 0}  # int64 != int32
    with pytest.raises(CheckpointError, match=r"\['step'\]\" .*dtype int32, but .*int64"):
        fgrad.io.load(path, like=like)
    with pytest.raises(CheckpointError, match="template leaf at .*is a str"):
        fgrad.io.load(path, like={**tree, "step": "x"})


# --------------------------------------------------------------------------------------
# damaged files: always a CheckpointError, never a partial tree, never an unpickle
# --------------------------------------------------------------------------------------
def test_garbage_and_truncated_files(saved, tmp_path):
    path, tree = saved
    data = pathlib.Path(path).read_bytes()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip archive at all" * 10)
    with pytest.raises(CheckpointError, match="not an .npz archive"):
        fgrad.io.load(bad, like=tree)
    cuts = sorted({0, 1, 10, 100, len(data) // 3, len(data) // 2, len(data) - 22, len(data) - 1})
    for cut in cuts:
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError):
            fgrad.io.load(bad, like=tree)


def test_a_flipped_data_byte_is_caught_by_the_crc(saved, tmp_path):
    path, tree = saved
    data = bytearray(pathlib.Path(path).read_bytes())
    at = data.index(np.ones((2, 3)).tobytes())
    data[at + 3] ^= 0x10
    bad = tmp_path / "flip.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="truncated or corrupt.*CRC"):
        fgrad.io.load(bad, like=tree)


def _rewrite(path, out, drop=(), add=None, meta=None):
    """Copy the npz at ``path`` to ``out`` without entries ``drop``, with ``add``."""
    with np.load(path, allow_pickle=False) as npz:
        entries = {k: npz[k] for k in npz.files if k not in drop}
    if meta is not None:
        entries["__fgrad_checkpoint__"] = np.array(json.dumps(meta))
    entries.update(add or {})
    np.savez(out, **entries)
    return out


def test_edited_archives_are_refused(saved, tmp_path):
    path, tree = saved
    out = tmp_path / "edited.npz"
    _rewrite(path, out, drop=["['step']"])
    with pytest.raises(CheckpointError, match=r"describes an entry \"\['step'\]\" that is not"):
        fgrad.io.load(out, like=tree)
    _rewrite(path, out, add={"['sneaky']": np.zeros(2)})
    with pytest.raises(CheckpointError, match="description does not list"):
        fgrad.io.load(out, like=tree)
    _rewrite(path, out, add={"['step']": np.int32([1, 2])})
    with pytest.raises(CheckpointError, match="not the shape"):
        fgrad.io.load(out, like=tree)
    _rewrite(path, out, drop=["__fgrad_checkpoint__"])
    with pytest.raises(CheckpointError, match="no __fgrad_checkpoint__ entry"):
        fgrad.io.load(out, like=tree)
    with np.load(path) as npz:
        meta = json.loads(str(npz["__fgrad_checkpoint__"]))
    _rewrite(path, out, meta={**meta, "version": 99})
    with pytest.raises(CheckpointError, match="version 99.*upgrade fgrad"):
        fgrad.io.load(out, like=tree)
    _rewrite(path, out, add={"__fgrad_checkpoint__": np.array("{not json")})
    with pytest.raises(CheckpointError, match="damaged"):
        fgrad.io.load(out, like=tree)


UNPICKLED = []


def _record_unpickling():
    UNPICKLED.append(True)
    return 0


class Payload:
    def __reduce__(self):
        return (_record_unpickling, ())


def test_pickled_contents_are_never_unpickled(saved, tmp_path):
    path, tree = saved
    out = tmp_path / "pickled.npz"
    with np.load(path) as npz:
        entries = {k: npz[k] for k in npz.files}
    entries["['step']"] = np.array([Payload()], dtype=object)
    np.savez(out, allow_pickle=True, **entries)
    with pytest.raises(CheckpointError, match="pickled .* never loads"):
        fgrad.io.load(out, like=tree)
    raw = tmp_path / "raw.npz"
    raw.write_bytes(pickle.dumps({"['step']": Payload()}))
    with pytest.raises(CheckpointError, match="pickled"):
        fgrad.io.load(raw, like=tree)
    npy = tmp_path / "single.npz"
    buf = io.BytesIO()
    np.save(buf, np.ones(3))
    npy.write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="single .npy array"):
        fgrad.io.load(npy, like=tree)
    assert UNPICKLED == []
    assert zipfile.is_zipfile(out)  # the first file really did hold a pickle


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        fgrad.io.load(tmp_path / "absent", like={})


# --------------------------------------------------------------------------------------
# resuming training bit-identically
# --------------------------------------------------------------------------------------
def _problem():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] ** 2 > 0.5).astype(np.int64) + (x[:, 2] > 1)
    batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)] * 3
    return batches


def _objective(params, x, y):
    logits = nn.mlp_apply(params, x, activation=nn.relu)
    return nn.softmax_cross_entropy(logits, y) + 1e-3 * nn.l2_penalty(params)


OPTIMISERS = {
    "adam": lambda: optim.adam(1e-2),
    "chain": lambda: optim.chain(
        optim.clip_by_global_norm(1.0),
        optim.adamw(optim.cosine_decay(1e-2, 12), weight_decay=1e-3),
    ),
}


@pytest.mark.parametrize("opt_name", sorted(OPTIMISERS))
@pytest.mark.parametrize("mode", ["eager", "jit-off", "jit-force"])
def test_resume_is_bit_identical(tmp_path, opt_name, mode):
    # jit on one tier for the whole run (docs/jit.md, "Reproducible runs"): the NumPy replay
    # ("off"), or numba's kernels from the first call ("force", the replay without numba)
    jitted = mode != "eager"
    old = fgrad.config.fgrad_fuse
    fgrad.config.update("fgrad_fuse", mode.removeprefix("jit-") if jitted else old)
    try:
        _resume_and_compare(tmp_path, opt_name, jitted)
    finally:
        fgrad.config.update("fgrad_fuse", old)


def _resume_and_compare(tmp_path, opt_name, jitted):
    opt = OPTIMISERS[opt_name]()
    batches = _problem()

    def step(params, opt_state, x, y):
        loss, grads = fgrad.value_and_grad(_objective)(params, x, y)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, loss

    step = fgrad.jit(step) if jitted else step

    def run(params, opt_state, batches):
        losses = []
        for xb, yb in batches:
            params, opt_state, loss = step(params, opt_state, xb, yb)
            losses.append(np.asarray(loss))
        return params, opt_state, losses

    params0 = nn.mlp_init(np.random.default_rng(0), [6, 16, 3], dtype=np.float32)
    full_params, full_state, full_losses = run(params0, opt.init(params0), batches)

    k = 5
    params, state, first_losses = run(params0, opt.init(params0), batches[:k])
    fgrad.io.save(tmp_path / "ckpt", {"params": params, "opt_state": state})
    fresh = nn.mlp_init(np.random.default_rng(99), [6, 16, 3], dtype=np.float32)
    restored = fgrad.io.load(
        tmp_path / "ckpt", like={"params": fresh, "opt_state": opt.init(fresh)}
    )
    counts = [
        leaf
        for p, leaf in tu.tree_leaves_with_path(restored["opt_state"])
        if tu.keystr(p).endswith(".count")
    ]
    assert len(counts) == (1 if opt_name == "adam" else 2)  # adamw's schedule counts too
    assert all(c.dtype == np.int32 and int(c) == k for c in counts)
    params, state, rest_losses = run(restored["params"], restored["opt_state"], batches[k:])

    assert_identical(params, full_params)
    assert_identical(state, full_state)
    assert [a.tobytes() for a in first_losses + rest_losses] == [a.tobytes() for a in full_losses]
    assert float(full_losses[-1]) < float(full_losses[0])  # the run does train


def test_a_restored_state_is_used_by_the_optimiser_as_is(tmp_path):
    params = {"w": fnp.ones(3)}
    opt = optim.adam(0.1)
    state = opt.init(params)
    _, state = opt.update({"w": np.full(3, 0.5)}, state, params)
    fgrad.io.save(tmp_path / "s", state)
    restored = fgrad.io.load(tmp_path / "s", like=opt.init(params))
    assert type(restored[0]) is type(state[0]) and restored[0].count.dtype == np.int32
    assert int(restored[0].count) == 1
    a = opt.update({"w": np.full(3, 2.0)}, state, params)[0]["w"]
    b = opt.update({"w": np.full(3, 2.0)}, restored, params)[0]["w"]
    assert a.tobytes() == b.tobytes()
