"""Jacobians and Hessians: ``jacfwd``, ``jacrev`` (alias ``jacobian``), ``hessian``, ``hvp``.

``jacrev`` runs the forward pass once and the backward pass on all basis
cotangents at once (``vmap`` over the pullback); ``jacfwd`` linearises once and
replays the linear map on all basis tangents at once. Choose ``jacrev`` for few
outputs and ``jacfwd`` for few inputs.
Results are nested pytrees of blocks, as in JAX: for output leaf ``o`` and input
leaf ``i`` the block has shape ``o.shape + i.shape``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from fgrad.core import backend
from fgrad.core.abstract import get_aval
from fgrad.core.errors import ConcretizationError, DtypeError
from fgrad.core.jaxpr import eval_jaxpr
from fgrad.core.pytree import tree_flatten, tree_unflatten
from fgrad.core.source_info import api_boundary
from fgrad.primitives.indexing import concatenate
from fgrad.primitives.structural import move_axis, reshape
from fgrad.transforms.argnums import split_args
from fgrad.transforms.forward_mode import jvp
from fgrad.transforms.linearize import linearize_flat
from fgrad.transforms.reverse_mode import differentiable_input, grad, split_aux, unaliased, vjp
from fgrad.transforms.vmap import vmap


def _one_hots(like):
    """All one-hot arrays shaped like ``like``, stacked: shape ``(size,) + like.shape``."""
    aval = get_aval(like)
    eye = np.eye(aval.size, dtype=aval.dtype).reshape((aval.size,) + aval.shape)
    return backend.asarray(eye, like=like)


def _rows(pull: Callable, out, n_in: int) -> list:
    """``pull`` (a cotangent of ``out`` -> flat input cotangents) on every one-hot cotangent,
    per input stacked along a new first axis.

    One batched backward pass (``vmap``); a ``custom_vjp`` whose ``bwd`` needs concrete
    cotangents (``odeint``'s, which calls SciPy) gets one backward pass per one-hot instead,
    and so does a single row.
    """
    if get_aval(out).size > 1:  # for one row (a gradient), a batch would only cost time
        try:
            return vmap(pull)(_one_hots(out))
        except ConcretizationError:
            pass
    rows = [pull(e) for e in _one_hots(out)]
    if not rows:
        return [None] * n_in
    return [_stack(col) for col in zip(*rows)]


def _stack(arrays) -> object:
    """The arrays (of one shape) stacked along a new first axis."""
    return concatenate([reshape(a, (1, *get_aval(a).shape)) for a in arrays], 0)


def _stack_rows(rows, shape: tuple, like):
    """Rows stacked along the first axis as the block ``shape`` (zeros if there are none)."""
    if rows is None:
        return backend.zeros(shape, get_aval(like).dtype, like=like)
    return reshape(rows, shape)


def _blocks(out_tree, in_tree, blocks: list[list]):
    """Nest blocks[i][j] as an output-structured tree of input-structured trees."""
    return tree_unflatten(out_tree, [tree_unflatten(in_tree, row) for row in blocks])


def _private_blocks(jac, args: tuple):
    """The Jacobian with every block an array of its own (see :func:`unaliased`): blocks
    are reshaped views, and the same one-hot rows can reach several of them."""
    leaves, tree = tree_flatten(jac)
    return tree_unflatten(tree, unaliased(leaves, tree_flatten(args)[0]))


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

    @api_boundary
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
        blocks = []
        for i, o in enumerate(out_flat):

            def pull(e, i=i):
                cts = [
                    e if j == i else backend.zeros(a.shape, a.dtype, like=out_flat[j])
                    for j, a in enumerate(out_avals)
                ]
                g = pullback(tree_unflatten(out_tree, cts))
                return tree_flatten(g[0] if isinstance(argnums, int) else g)[0]

            rows = _rows(pull, o, len(in_flat))
            blocks.append(
                [
                    _stack_rows(r, out_avals[i].shape + get_aval(x).shape, x)
                    for r, x in zip(rows, in_flat)
                ]
            )
        jac = _private_blocks(_blocks(out_tree, in_tree, blocks), args)
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

    @api_boundary
    @functools.wraps(fun)
    def jacfwd_f(*args, **kwargs):
        dyn, rebuild = split_args(args, argnums, "jacfwd")
        target = dyn[0] if isinstance(argnums, int) else dyn
        in_flat, in_tree = tree_flatten(target)
        in_flat = [differentiable_input(x, "jacfwd") for x in in_flat]
        _check_complex("jacfwd", "inputs", in_flat, holomorphic, allow_complex=False)
        trees = []

        def flat_fun(*xs):
            t = tree_unflatten(in_tree, list(xs))
            out = fun(*rebuild((t,) if isinstance(argnums, int) else t), **kwargs)
            aux = None
            if has_aux:
                out, aux = split_aux(out, "jacfwd")
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
        jac = _private_blocks(_blocks(out_tree, in_tree, blocks), args)
        return (jac, aux) if has_aux else jac

    return jacfwd_f


def _jvp_columns(lin, inputs: list, j: int, n_out: int) -> list:
    """The linear map applied to every basis vector of input ``j``, in one batched replay:
    per output, the stacked results, shape ``(size_j,) + out.shape``."""
    zeros = [backend.zeros(get_aval(y).shape, get_aval(y).dtype, like=y) for y in inputs]

    def replay(e):
        return eval_jaxpr(
            lin.jaxpr, lin.consts, *[e if k == j else z for k, z in enumerate(zeros)]
        )[:n_out]

    return vmap(replay)(_one_hots(inputs[j]))


def _column_block(columns, out_shape: tuple, in_shape: tuple):
    """``(n,) + out_shape`` stacked columns as the block ``out_shape + in_shape``."""
    return reshape(move_axis(columns, 0, len(out_shape)), out_shape + in_shape)


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
