"""autograd's ``check_grads`` on fgrad's ``vjp``/``jvp``, with a minimal vector space helper."""

from itertools import product

import numpy as onp

import fgrad
from autograd import make_jvp, make_vjp

TOL = 1e-6
RTOL = 1e-6
EPS = 1e-6


def scalar_close(a, b):
    return abs(a - b) < TOL or abs(a - b) / abs(a + b) < RTOL


class VSpace:
    def __init__(self, value):
        leaves, self.tree = fgrad.tree_flatten(value)
        arrs = [onp.asarray(x) for x in leaves]
        self.shapes = [a.shape for a in arrs]
        self.dtypes = [onp.result_type(a.dtype, onp.float64) for a in arrs]
        self.scalar = [onp.ndim(x) == 0 and not isinstance(x, onp.ndarray) for x in leaves]
        self.size = sum(a.size for a in arrs)
        self.iscomplex = any(onp.issubdtype(d, onp.complexfloating) for d in self.dtypes)

    def __eq__(self, other):
        return (
            self.tree == other.tree
            and self.shapes == other.shapes
            and [onp.issubdtype(d, onp.complexfloating) for d in self.dtypes]
            == [onp.issubdtype(d, onp.complexfloating) for d in other.dtypes]
        )

    def __repr__(self):
        return f"VSpace({self.tree}, {self.shapes}, {self.dtypes})"

    def _build(self, make):
        leaves = []
        for shape, dt, sc in zip(self.shapes, self.dtypes, self.scalar):
            a = make(shape, dt)
            leaves.append(a[()] if sc else a)
        return fgrad.tree_unflatten(self.tree, leaves)

    def randn(self):
        def make(shape, dt):
            a = onp.random.randn(*shape)
            if onp.issubdtype(dt, onp.complexfloating):
                a = a + 1j * onp.random.randn(*shape)
            return onp.asarray(a)

        return self._build(make)

    def ones(self):
        return self._build(lambda shape, dt: onp.ones(shape, dt))

    def zeros(self):
        return self._build(lambda shape, dt: onp.zeros(shape, dt))

    def _leaves(self, x):
        return [onp.asarray(v) for v in fgrad.tree_leaves(x)]

    def add(self, x, y):
        return fgrad.tree_map(lambda a, b: a + b, x, y)

    def scalar_mul(self, x, c):
        return fgrad.tree_map(lambda a: a * c, x)

    def inner_prod(self, x, y):
        return sum(
            onp.real(onp.vdot(onp.ravel(a), onp.ravel(b)))
            for a, b in zip(self._leaves(x), self._leaves(y))
        )

    def covector(self, x):
        return fgrad.tree_map(onp.conj, x)


def vspace(value):
    return VSpace(value)


def make_numerical_jvp(f, x):
    y = f(x)
    x_vs, y_vs = vspace(x), vspace(y)

    def jvp(v):
        f_plus = f(x_vs.add(x, x_vs.scalar_mul(v, EPS / 2)))
        f_minus = f(x_vs.add(x, x_vs.scalar_mul(v, -EPS / 2)))
        return y_vs.scalar_mul(y_vs.add(f_plus, y_vs.scalar_mul(f_minus, -1.0)), 1.0 / EPS)

    return jvp


def check_vjp(f, x):
    vjp, y = make_vjp(f)(x)
    jvp = make_numerical_jvp(f, x)
    x_vs, y_vs = vspace(x), vspace(y)
    x_v, y_v = x_vs.randn(), y_vs.randn()
    vjp_y = x_vs.covector(vjp(y_vs.covector(y_v)))
    assert vspace(vjp_y) == x_vs, (vspace(vjp_y), x_vs)
    exact = x_vs.inner_prod(x_v, vjp_y)
    numeric = y_vs.inner_prod(y_v, jvp(x_v))
    assert scalar_close(numeric, exact), f"VJP check failed: analytic {exact} numeric {numeric}"


def check_jvp(f, x):
    jvp = make_jvp(f)(x)
    jvp_numeric = make_numerical_jvp(f, x)
    x_v = vspace(x).randn()
    check_equivalent(jvp(x_v)[1], jvp_numeric(x_v))


def check_equivalent(x, y):
    x_vs, y_vs = vspace(x), vspace(y)
    assert x_vs == y_vs, f"VSpace mismatch:\nx: {x_vs}\ny: {y_vs}"
    v = x_vs.randn()
    assert scalar_close(x_vs.inner_prod(x, v), x_vs.inner_prod(y, v)), f"{x} != {y}"


def check_grads(f, argnum=0, modes=("fwd", "rev"), order=2):
    def checker(*args, **kwargs):
        from autograd import _select

        def unary_check(g, x):
            _check(g, x, modes, order)

        return _select(f, argnum, unary_check)(*args, **kwargs)

    return checker


def _check(f, x, modes, order):
    if "fwd" in modes:
        check_jvp(f, x)
        if order > 1:
            v = vspace(x).randn()
            check_grads(lambda x, v: make_jvp(f)(x)(v)[1], (0, 1), modes, order - 1)(x, v)
    if "rev" in modes:
        check_vjp(f, x)
        if order > 1:
            v = vspace(f(x)).randn()
            check_grads(lambda x, v: make_vjp(f)(x)[0](v), (0, 1), modes, order - 1)(x, v)


def combo_check(fun, *args, **kwargs):
    def _combo_check(*cargs, **ckwargs):
        kv = [[(k, x) for x in xs] for k, xs in ckwargs.items()]
        for _args in product(*cargs):
            for _kwargs in product(*kv):
                check_grads(fun, *args, **kwargs)(*_args, **dict(_kwargs))

    return _combo_check
