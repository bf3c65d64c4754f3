def unary_to_nary(unary_operator):
    """Autograd's decorator turning ``op(fun, x)`` into ``op(fun, argnum)(*args)``."""
    from autograd import _select

    def nary_operator(fun, argnum=0, *op_args, **op_kwargs):
        return _select(fun, argnum, lambda f, x: unary_operator(f, x, *op_args, **op_kwargs))

    return nary_operator
