"""Jacobians and Hessians: ``jacfwd``, ``jacrev`` (alias ``jacobian``), ``hessian``, ``hvp``.

``jacrev`` runs the forward pass once and the backward pass once per output
element; ``jacfwd`` linearises once and replays the linear map once per input
element. Choose ``jacrev`` for few outputs and ``jacfwd`` for few inputs.
Results are nested pytrees of blocks, as in JAX: for output leaf ``o`` and input
leaf ``i`` the block has shape ``o.shape + i.shape``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import get_aval
from fgrad.core.argnums import split_args
from fgrad.core.errors import DtypeError
from fgrad.core.forward_mode import jvp
from fgrad.core.jaxpr import eval_jaxpr
from fgrad.core.linear_batching import Unbatchable, eval_linear_batched
from fgrad.core.linearize import linearize_flat
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.reverse_mode import _differentiable_input, _split_aux, grad, vjp


def _basis(like):
    """The standard basis of arrays shaped like ``like``, on its device: one-hot arrays."""
    aval = get_aval(like)
    for k in range(aval.size):
        e = np.zeros(aval.size, aval.dtype)
        e[k] = 1
        yield backend.asarray(e.reshape(aval.shape), like=like)


def _stack(parts: list, shape: tuple, dtype, axis: int, like):
    """Stack Jacobian rows/columns (possibly traced) and give the block its shape."""
    from fgrad import numpy as fnp

    if not parts:
        return backend.zeros(shape, dtype, like=like)
    return fnp.reshape(fnp.stack(parts, axis=axis), shape)


def _blocks(out_tree, in_tree, blocks: list[list]):
    """Nest blocks[i][j] as an output-structured tree of input-structured trees."""
    return tree_unflatten(out_tree, [tree_unflatten(in_tree, row) for row in blocks])


def _check_complex(name: str, what: str, leaves: list, holomorphic: bool, allow_complex: bool):
    """JAX's rules for complex numbers in Jacobians: a real-basis Jacobian of a complex map
    is only the whole derivative when the map is holomorphic, so say so or refuse."""
    for x in leaves:
        dtype = np.dtype(get_aval(x).dtype)
        if holomorphic and dtype.kind != "c":
            raise DtypeError(
                f"{name}(..., holomorphic=True) needs complex {what}, got {dtype.name}"
            )
        if not holomorphic and not allow_complex and dtype.kind == "c":
            other = "fgrad.jvp" if name == "jacfwd" else "fgrad.vjp"
            raise DtypeError(
                f"{name} needs real {what}, got {dtype.name}. For a holomorphic function pass "
                f"holomorphic=True; otherwise use {other} directly, or split the complex "
                "values into real and imaginary parts."
            )


def jacrev(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """Jacobian of ``fun`` by reverse mode: one backward pass per output element.

    Parameters
    ----------
    fun
        A function of pytrees of arrays.
    argnums
        Positional argument(s) to differentiate with respect to.
    has_aux
        If true, ``fun`` returns ``(out, aux)`` and the result is ``(jacobian, aux)``.
    holomorphic
        If true, ``fun`` is holomorphic (complex inputs and outputs) and the
        result is its complex Jacobian. Otherwise outputs must be real (complex
        inputs are allowed in ``jacrev``: each row is then a gradient, with
        :func:`fgrad.grad`'s convention) and, in ``jacfwd``, inputs too.

    Returns
    -------
    Callable
        ``f(*args) -> jacobian``: a pytree shaped like ``fun``'s output whose
        leaves are pytrees shaped like the differentiated argument(s), with
        blocks of shape ``out_leaf.shape + in_leaf.shape``.
    """

    @functools.wraps(fun)
    def jacrev_f(*args, **kwargs):
        dyn, rebuild = split_args(args, argnums, "jacrev")
        target = dyn[0] if isinstance(argnums, int) else dyn
        in_flat, in_tree = tree_flatten(target)
        _check_complex("jacrev", "inputs", in_flat, holomorphic, allow_complex=True)
        res = vjp(lambda *d: fun(*rebuild(d), **kwargs), *dyn, has_aux=has_aux)
        out, pullback = res[0], res[1]
        out_flat, out_tree = tree_flatten(out)
        _check_complex("jacrev", "outputs", out_flat, holomorphic, allow_complex=False)
        out_avals = [get_aval(o) for o in out_flat]
        rows: list[list[list]] = [[[] for _ in in_flat] for _ in out_flat]
        for i, o in enumerate(out_flat):
            for e in _basis(o):
                cts = [
                    e if j == i else backend.zeros(a.shape, a.dtype, like=out_flat[j])
                    for j, a in enumerate(out_avals)
                ]
                g = pullback(tree_unflatten(out_tree, cts))
                g_flat = tree_flatten(g[0] if isinstance(argnums, int) else g)[0]
                for j, gj in enumerate(g_flat):
                    rows[i][j].append(gj)
        blocks = [
            [
                _stack(rows[i][j], out_avals[i].shape + get_aval(x).shape, get_aval(x).dtype, 0, x)
                for j, x in enumerate(in_flat)
            ]
            for i in range(len(out_flat))
        ]
        jac = _blocks(out_tree, in_tree, blocks)
        return (jac, res[2]) if has_aux else jac

    return jacrev_f


jacobian = jacrev


def jacfwd(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
) -> Callable:
    """Jacobian of ``fun`` by forward mode: linearise once, one linear replay per input element.

    Parameters and result are as for :func:`jacrev`.
    """

    @functools.wraps(fun)
    def jacfwd_f(*args, **kwargs):
        dyn, rebuild = split_args(args, argnums, "jacfwd")
        target = dyn[0] if isinstance(argnums, int) else dyn
        in_flat, in_tree = tree_flatten(target)
        in_flat = [_differentiable_input(x, "jacfwd") for x in in_flat]
        _check_complex("jacfwd", "inputs", in_flat, holomorphic, allow_complex=False)
        trees = []

        def flat_fun(*xs):
            t = tree_unflatten(in_tree, list(xs))
            out = fun(*rebuild((t,) if isinstance(argnums, int) else t), **kwargs)
            aux = None
            if has_aux:
                out, aux = _split_aux(out, "jacfwd")
            out_flat, out_tree = tree_flatten(out)
            aux_flat, aux_tree = tree_flatten(aux)
            trees.append((out_tree, aux_tree, len(out_flat)))
            return out_flat + aux_flat  # aux leaves come back as plain primal values

        outs, lin = linearize_flat(flat_fun, in_flat)
        out_tree, aux_tree, n_out = trees[0]
        out_flat, aux = outs[:n_out], tree_unflatten(aux_tree, outs[n_out:])
        if holomorphic:
            _check_complex("jacfwd", "outputs", out_flat, holomorphic, allow_complex=True)
        blocks = [[None] * len(in_flat) for _ in out_flat]
        for j, x in enumerate(in_flat):
            columns = _jvp_columns(lin, in_flat, j, n_out)
            for i, o in enumerate(out_flat):
                blocks[i][j] = _column_block(columns[i], get_aval(o).shape, get_aval(x).shape)
        jac = _blocks(out_tree, in_tree, blocks)
        return (jac, aux) if has_aux else jac

    return jacfwd_f


def _jvp_columns(lin, inputs: list, j: int, n_out: int) -> list:
    """The linear map applied to every basis vector of input ``j``: per output, the stacked
    results, shape ``(size_j,) + out.shape``. One batched replay when possible, else a loop."""
    x = inputs[j]
    aval = get_aval(x)
    zeros = [backend.zeros(get_aval(y).shape, get_aval(y).dtype, like=y) for y in inputs]
    eye = np.eye(aval.size, dtype=aval.dtype).reshape((aval.size,) + aval.shape)
    tangents = [backend.asarray(eye, like=x) if k == j else z for k, z in enumerate(zeros)]
    try:
        flags = [k == j for k in range(len(inputs))]
        return eval_linear_batched(lin, tangents, flags, aval.size)[:n_out]
    except Unbatchable:
        pass
    rows: list[list] = [[] for _ in range(n_out)]
    for e in _basis(x):
        t_out = eval_jaxpr(
            lin.jaxpr, lin.consts, *[e if k == j else z for k, z in enumerate(zeros)]
        )
        for i in range(n_out):
            rows[i].append(t_out[i])
    return [
        _stack(r, (aval.size,) + get_aval(t).shape, get_aval(t).dtype, 0, x)
        for r, t in zip(rows, lin.jaxpr.outvars[:n_out])
    ]


def _column_block(columns, out_shape: tuple, in_shape: tuple):
    """``(n,) + out_shape`` stacked columns as the block ``out_shape + in_shape``."""
    from fgrad import numpy as fnp

    return fnp.reshape(fnp.moveaxis(columns, 0, -1), out_shape + in_shape)


def hessian(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Hessian of scalar ``fun``: ``jacfwd(jacrev(fun))`` (forward-over-reverse).

    For a single array argument of shape ``s`` the result has shape ``s + s``.
    """
    return jacfwd(jacrev(fun, argnums), argnums)


def hvp(fun: Callable, primals: tuple | list, tangents: tuple | list):
    """Hessian-vector product of scalar ``fun`` without forming the Hessian.

    Computed forward-over-reverse: ``jvp(grad(fun), primals, tangents)``.

    Parameters
    ----------
    fun
        Scalar-valued function of the positional arguments ``primals``.
    primals, tangents
        Tuples of the same structure: the point and the direction.

    Returns
    -------
    ``H @ v`` with the structure of ``primals[0]`` when there is one argument,
    else a tuple with one entry per argument.
    """
    argnums = 0 if len(primals) == 1 else tuple(range(len(primals)))
    return jvp(grad(fun, argnums), tuple(primals), tuple(tangents))[1]
