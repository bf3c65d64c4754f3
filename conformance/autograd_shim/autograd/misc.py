from fgrad.flatten_util import ravel_pytree


def flatten(value):
    return ravel_pytree(value)


def const_graph(fun, *args, **kwargs):
    return fun
