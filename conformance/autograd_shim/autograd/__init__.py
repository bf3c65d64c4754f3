"""A thin stand-in for the ``autograd`` package, mapping its API onto fgrad's.

It exists to run HIPS autograd's own test suite against fgrad (see
``conformance/README.md``). Each operator is translated to the fgrad transform
with the same meaning; nothing here computes a derivative itself.
"""

from __future__ import annotations

import numpy as onp

import fgrad
from autograd.extend import primitive  # noqa: F401 - part of autograd's namespace


def _select(fun, argnum, make):
    """Apply ``make(f_of_x, x)`` to ``fun`` seen as a function of argument(s) ``argnum``."""

    def transformed(*args, **kwargs):
        if isinstance(argnum, int):
            x = args[argnum]

            def unary(x):
                new = list(args)
                new[argnum] = x
                return fun(*new, **kwargs)

        else:
            x = tuple(args[i] for i in argnum)

            def unary(x):
                new = list(args)
                for i, xi in zip(argnum, x):
                    new[i] = xi
                return fun(*new, **kwargs)

        return make(unary, x)

    return transformed


def _ones_like(y):
    return fgrad.tree_map(lambda a: onp.ones_like(onp.asarray(a)), y)


def make_vjp(fun, argnum=0):
    def make(f, x):
        y, pullback = fgrad.vjp(f, x)
        return (lambda g: pullback(g)[0]), y

    return _select(fun, argnum, make)


def make_jvp(fun, argnum=0):
    def make(f, x):
        return lambda v: fgrad.jvp(f, (x,), (v,))

    return _select(fun, argnum, make)


def grad(fun, argnum=0):
    return _select(fun, argnum, lambda f, x: fgrad.grad(f)(x))


def value_and_grad(fun, argnum=0):
    return _select(fun, argnum, lambda f, x: fgrad.value_and_grad(f)(x))


def elementwise_grad(fun, argnum=0):
    def make(f, x):
        y, pullback = fgrad.vjp(f, x)
        return pullback(_ones_like(y))[0]

    return _select(fun, argnum, make)


def deriv(fun, argnum=0):
    return _select(fun, argnum, lambda f, x: fgrad.jvp(f, (x,), (_ones_like(x),))[1])


def holomorphic_grad(fun, argnum=0):
    return _select(fun, argnum, lambda f, x: fgrad.grad(f, holomorphic=True)(x))


def jacobian(fun, argnum=0):
    return _select(fun, argnum, lambda f, x: fgrad.jacrev(f)(x))


def hessian(fun, argnum=0):
    return _select(fun, argnum, lambda f, x: fgrad.hessian(f)(x))


def make_hvp(fun, argnum=0):
    def make(f, x):
        g, pullback = fgrad.vjp(fgrad.grad(f), x)
        return (lambda v: pullback(v)[0]), g

    return _select(fun, argnum, make)


def hessian_tensor_product(fun, argnum=0):
    import fgrad.numpy as fnp

    fun_grad = grad(fun, argnum)

    def vector_dot_grad(*args, **kwargs):
        args, vector = args[:-1], args[-1]
        return fnp.tensordot(fun_grad(*args, **kwargs), vector, fnp.ndim(vector))

    return grad(vector_dot_grad, argnum)


hessian_vector_product = hessian_tensor_product


def tensor_jacobian_product(fun, argnum=0):
    import fgrad.numpy as fnp

    def vector_dot_fun(*args, **kwargs):
        args, vector = args[:-1], args[-1]
        return fnp.tensordot(vector, fun(*args, **kwargs), axes=fnp.ndim(vector))

    return jacobian(vector_dot_fun, argnum)


vector_jacobian_product = tensor_jacobian_product


def grad_and_aux(fun, argnum=0):
    return _select(fun, argnum, lambda f, x: fgrad.grad(f, has_aux=True)(x))


def checkpoint(fun):
    return fgrad.checkpoint(fun)


from autograd.builtins import dict, isinstance, list, tuple, type  # noqa: E402, F401, A004


def grad_named(fun, argname):
    import inspect

    names = list(inspect.signature(fun).parameters)
    return grad(fun, names.index(argname))


def make_ggnvp(f, g=None, f_argnum=0):
    import fgrad.numpy as fnp

    g = g if g is not None else (lambda y: 0.5 * fnp.sum(y**2, axis=-1))

    def make(fx, x):
        y, pullback = fgrad.vjp(fx, x)

        def ggnvp(v):
            jv = fgrad.jvp(fx, (x,), (v,))[1]
            return pullback(fgrad.hvp(g, (y,), (jv,))[1])[0]

        return ggnvp

    return _select(f, f_argnum, make)


def multigrad_dict(fun):
    raise NotImplementedError("multigrad_dict has no fgrad counterpart in this shim")
