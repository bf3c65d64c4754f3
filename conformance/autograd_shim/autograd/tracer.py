from autograd.extend import primitive  # noqa: F401
from fgrad.core.tracer import Tracer


def isbox(x):
    return isinstance(x, Tracer)


def getval(x):
    from fgrad.core.tracer import value_below  # noqa: F401

    while isinstance(x, Tracer):
        x = x.primal if hasattr(x, "primal") else x.val
    return x
