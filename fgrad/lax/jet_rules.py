"""Taylor mode (``fgrad.jet``) through staged control flow: the ``jet_rules`` of the
``cond``, ``scan`` and ``while_loop`` primitives.

A jet meets these primitives only where the loop or branch was staged (under ``jit``,
or a recorded jaxpr replayed); with known values the Python loop or the chosen branch
runs under the jet directly. Each rule is the same construct one level down, over the
body run under a jet of the same order: the Taylor coefficients travel as extra
operands, carries and outputs. Every floating-point carry carries coefficients (a
constant initial carry can pick up a dependence on the path after one step), as arrays;
a ``cond``'s operands leave out the coefficients known to be zero, which its branches
receive as :data:`~fgrad.transforms.jet_zeros.ZERO`.
"""

from __future__ import annotations

from fgrad.core import backend
from fgrad.core.abstract import get_aval
from fgrad.core.rules import defjet
from fgrad.lax.cond import cond_p, switch_flat
from fgrad.lax.loops import scan
from fgrad.lax.scan import scan_p
from fgrad.lax.while_loop import while_loop, while_loop_p
from fgrad.transforms.argnums import replace_at
from fgrad.transforms.jet import jet_flat
from fgrad.transforms.jet_zeros import ZERO, materialized


def _is_float(x) -> bool:
    return get_aval(x).dtype.kind in "fc"


def _coefficients(s, x, order: int) -> list:
    """The coefficients of ``x``'s series ``s`` (None: a constant) as arrays."""
    if s is None:
        aval = get_aval(x)
        return [backend.zeros(aval.shape, aval.dtype)] * order
    return [materialized(c, x) for c in s[1:]]


def _body_jet(fun, values: list, moving: list[int], series: list[list], order: int) -> list:
    """``fun(*values)`` under a jet of ``order`` along ``series`` (one full series per
    position in ``moving``): the series of every result."""

    def on_moving(*xs):
        return fun(*replace_at(values, moving, xs))

    return jet_flat(on_moving, series, order)


def _outputs(out_series: list) -> list:
    """A rule's results: the series of the float ones, the plain value of the others."""
    return [s if _is_float(s[0]) else s[0] for s in out_series]


def _cond_rule(primals, series, order, *, branches, quiet):
    index, operands = primals[0], primals[1:]
    moving = [i for i, s in enumerate(series[1:]) if s is not None]
    terms = [series[1 + i][1:] for i in moving]
    coeffs = [c for ts in terms for c in ts if c is not ZERO]
    n = len(operands)

    def jet_of(branch):
        def branch_jet(*args):
            ops, flat = list(args[:n]), iter(args[n:])
            ins = [
                [ops[i]] + [ZERO if c is ZERO else next(flat) for c in ts]
                for i, ts in zip(moving, terms)
            ]
            out = _body_jet(branch.call, ops, moving, ins, order)
            return [s[0] for s in out] + [c for s in out for c in s[1:]]

        return branch_jet

    res = switch_flat(index, [jet_of(b) for b in branches], [*operands, *coeffs], quiet)
    n_out = len(branches[0].out_avals)
    out = [[res[j], *res[n_out + j * order : n_out + (j + 1) * order]] for j in range(n_out)]
    return _outputs(out)


def _scan_rule(primals, series, order, *, body, n_consts, n_carry, length, reverse):
    consts = primals[:n_consts]
    carry = primals[n_consts : n_consts + n_carry]
    xs = primals[n_consts + n_carry :]
    moving_consts = [i for i in range(n_consts) if series[i] is not None]
    float_carry = [i for i, c in enumerate(carry) if _is_float(c)]
    moving_xs = [i for i in range(len(xs)) if series[n_consts + n_carry + i] is not None]
    const_series = [series[i] for i in moving_consts]
    init = (
        list(carry),
        [_coefficients(series[n_consts + i], carry[i], order) for i in float_carry],
    )
    x_in = (
        list(xs),
        [_coefficients(series[n_consts + n_carry + i], xs[i], order) for i in moving_xs],
    )
    moving = (
        moving_consts
        + [n_consts + i for i in float_carry]
        + [n_consts + n_carry + i for i in moving_xs]
    )

    def step(state, x):
        c, c_coeffs = state
        xv, x_coeffs = x
        ins = (
            const_series
            + [[c[i], *cc] for i, cc in zip(float_carry, c_coeffs)]
            + [[xv[i], *xc] for i, xc in zip(moving_xs, x_coeffs)]
        )
        out = _body_jet(body.bind_each, [*consts, *c, *xv], moving, ins, order)
        new_carry = [s[0] for s in out[:n_carry]]
        new_coeffs = [out[i][1:] for i in float_carry]
        return (new_carry, new_coeffs), out[n_carry:]

    (final, final_coeffs), ys = scan(step, init, x_in, length=length, reverse=reverse)
    results = []
    for i, c in enumerate(final):
        results.append([c, *final_coeffs[float_carry.index(i)]] if i in float_carry else c)
    return results + _outputs(ys)


def _while_rule(primals, series, order, *, cond, body):
    nc, nb = cond.n_consts, body.n_consts
    cond_consts, body_consts = primals[:nc], primals[nc : nc + nb]
    carry = primals[nc + nb :]
    moving_consts = [i for i in range(nb) if series[nc + i] is not None]
    float_carry = [i for i, c in enumerate(carry) if _is_float(c)]
    const_series = [series[nc + i] for i in moving_consts]

    moving = moving_consts + [nb + i for i in float_carry]

    def cond_fun(state):
        return cond.bind_each(*cond_consts, *state[0])[0]

    def body_fun(state):
        c, c_coeffs = state
        ins = const_series + [[c[i], *cc] for i, cc in zip(float_carry, c_coeffs)]
        out = _body_jet(body.bind_each, [*body_consts, *c], moving, ins, order)
        return [s[0] for s in out], [out[i][1:] for i in float_carry]

    final, final_coeffs = while_loop(
        cond_fun,
        body_fun,
        (list(carry), [_coefficients(series[nc + nb + i], carry[i], order) for i in float_carry]),
    )
    return [
        [c, *final_coeffs[float_carry.index(i)]] if i in float_carry else c
        for i, c in enumerate(final)
    ]


defjet(cond_p, _cond_rule)
defjet(scan_p, _scan_rule)
defjet(while_loop_p, _while_rule)
