"""autograd's extension API (``primitive``, ``defvjp``) mapped onto ``fgrad.custom_vjp``."""

import numpy as onp

import fgrad
from fgrad.core.tracer import Tracer


class primitive:  # noqa: N801
    def __init__(self, fun):
        self.fun = fun
        self.vjpmakers = {}
        self.__name__ = getattr(fun, "__name__", "primitive")

    def __call__(self, *args, **kwargs):
        if not self.vjpmakers or not any(isinstance(a, Tracer) for a in args):
            return self.fun(*args, **kwargs)
        fun, makers = self.fun, self.vjpmakers

        @fgrad.custom_vjp
        def wrapped(*a):
            return fun(*a, **kwargs)

        def fwd(*a):
            ans = fun(*a, **kwargs)
            return ans, (ans, a)

        def bwd(res, g):
            ans, a = res
            return tuple(
                makers[i](ans, *a, **kwargs)(g) if i in makers else onp.zeros_like(a[i])
                for i in range(len(a))
            )

        wrapped.defvjp(fwd, bwd)
        return wrapped(*args)


def defvjp(prim, *vjpmakers, argnums=None):
    argnums = range(len(vjpmakers)) if argnums is None else argnums
    for i, maker in zip(argnums, vjpmakers):
        if maker is not None:
            prim.vjpmakers[i] = maker


def defvjp_argnum(prim, makevjp):
    raise NotImplementedError("defvjp_argnum has no fgrad counterpart in this shim")


def defjvp(prim, *jvpmakers, **kwargs):
    raise NotImplementedError("defjvp has no fgrad counterpart in this shim")
