import fgrad
from autograd.test_util import vspace  # noqa: F401


def make_vjp(fun, x):
    """autograd.core's unary form: ``make_vjp(fun, x) -> (vjp, ans)``."""
    y, pullback = fgrad.vjp(fun, x)
    return (lambda g: pullback(g)[0]), y


def make_jvp(fun, x):
    return lambda v: fgrad.jvp(fun, (x,), (v,))


primitive_vjps = {}
