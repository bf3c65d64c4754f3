"""JAX names fgrad lacks: an AttributeError that says so and what to use instead."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fgrad
import fgrad.debug
import fgrad.dtypes
import fgrad.experimental
import fgrad.lax
import fgrad.nn
import fgrad.numpy as fnp
from fgrad.core import missing_names

MODULES = {
    "fgrad": (fgrad, missing_names.FGRAD),
    "fgrad.lax": (fgrad.lax, missing_names.LAX),
    "fgrad.numpy": (fnp, missing_names.NUMPY),
    "fgrad.nn": (fgrad.nn, missing_names.NN),
    "fgrad.debug": (fgrad.debug, missing_names.DEBUG),
    "fgrad.dtypes": (fgrad.dtypes, missing_names.DTYPES),
    "fgrad.experimental": (fgrad.experimental, missing_names.EXPERIMENTAL),
}
ENTRIES = [(mod, name) for mod, (_, table) in MODULES.items() for name in table]


@pytest.mark.parametrize(("module", "name"), ENTRIES)
def test_each_listed_name_explains_itself(module, name):
    mod, table = MODULES[module]
    assert name not in vars(mod), f"{module}.{name} exists: drop it from the list"
    with pytest.raises(AttributeError) as err:
        getattr(mod, name)
    assert str(err.value) == f"{module} has no {name}: {table[name]}."
    assert not hasattr(mod, name)


@pytest.mark.parametrize(("module", "name"), ENTRIES)
def test_the_advice_names_things_that_exist(module, name):
    """Every ``fgrad.x.y`` an entry recommends resolves (``fnp.`` is fgrad.numpy)."""
    advice = MODULES[module][1][name].replace("fnp.", "fgrad.numpy.")
    for path in re.findall(r"fgrad(?:\.\w+)+", advice):
        obj = fgrad
        for part in path.split(".")[1:]:
            if part in ("lax", "nn", "scipy", "optim", "primitives", "core") and not hasattr(
                obj, part
            ):
                __import__(f"{obj.__name__}.{part}")
            obj = getattr(obj, part)


def test_lax_points_numpy_namesakes_to_fgrad_numpy():
    with pytest.raises(
        AttributeError,
        match=r"fgrad.lax has no broadcast_shapes: use fgrad.numpy.broadcast_shapes \(",
    ):
        fgrad.lax.broadcast_shapes  # noqa: B018
    with pytest.raises(AttributeError, match="fgrad.primitives"):
        fgrad.lax.mul_p  # noqa: B018


def test_collectives_fgrad_lacks_name_those_it_has():
    for name in ("all_to_all", "pshuffle", "pswapaxes"):
        with pytest.raises(AttributeError, match="psum, pmean, pmax, pmin, all_gather"):
            getattr(fgrad.lax, name)
    with pytest.raises(AttributeError, match=r"use fgrad.vmap .*fgrad.distributed.spmd"):
        fgrad.pmap  # noqa: B018


def test_unknown_names_keep_the_plain_message():
    for module, (mod, _) in MODULES.items():
        with pytest.raises(AttributeError) as err:
            mod.no_such  # noqa: B018
        assert str(err.value) == f"module '{module}' has no attribute 'no_such'"


def test_numpy_names_fgrad_lacks_keep_their_message():
    name = next(n for n in ("bmat", "busday_count", "asmatrix") if hasattr(np, n))
    with pytest.raises(AttributeError, match=f"does not support numpy.{name} yet"):
        getattr(fnp, name)
    with pytest.raises(AttributeError, match="immutable"):
        fnp.copyto  # noqa: B018


def test_names_the_lists_share_with_real_functions_work():
    np.testing.assert_allclose(fgrad.remat(fnp.sin)(0.5), np.sin(0.5))
    assert fgrad.local_device_count() == 1


def test_lists_hold_jax_names():
    """Each listed name is one JAX has (or had: the few JAX since removed)."""
    jax = pytest.importorskip("jax")
    pytest.importorskip("jax.numpy")
    # in older JAX releases
    removed = {"pjit", "xla_computation", "DeviceArray", "optimizers", "stax", "host_callback"}
    removed |= {"enable_x64", "disable_x64", "maps"}
    pytest.importorskip("jax.experimental")

    jax_modules = {
        "fgrad": jax,
        "fgrad.lax": jax.lax,
        "fgrad.numpy": jax.numpy,
        "fgrad.nn": jax.nn,
        "fgrad.debug": jax.debug,
        "fgrad.dtypes": jax.dtypes,
        "fgrad.experimental": jax.experimental,
    }

    def has(module, name):
        if hasattr(jax_modules[module], name):
            return True
        try:  # a submodule (jax.experimental.ode) is an attribute once imported
            importlib.import_module(f"{jax_modules[module].__name__}.{name}")
        except ModuleNotFoundError as err:
            return not err.name.startswith("jax.")  # present, but needs another package
        return True

    absent = {name for module, name in ENTRIES if not has(module, name)}
    assert absent <= removed, absent - removed


def test_import_fgrad_loads_no_submodule_for_the_lists():
    code = "import sys, fgrad; print([m for m in ('fgrad.lax', 'fgrad.nn') if m in sys.modules])"
    root = Path(fgrad.__file__).parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "[]"
