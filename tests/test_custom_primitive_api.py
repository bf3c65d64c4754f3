"""JAX's API for new primitives on fgrad: ``fgrad.extend.core.Primitive`` with
``def_impl``/``def_abstract_eval``/``bind``, the rule tables of ``fgrad.interpreters``
(``ad``, ``batching``, ``mlir``), as JAX's tutorial "JAX internals: primitives" uses them.

The tutorial's ``multiply_add`` is built step by step as the tutorial does (each missing
rule a ``NotImplementedError``, as in JAX), in the 0.4-0.10 form and in the newer one
whose rules return lists; then its values and derivatives under ``jit``, ``grad``,
``jvp``, ``vmap`` and their compositions are checked against closed forms.
"""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import core, lax
from fgrad.core.primitive import registry
from fgrad.extend import core as ext_core
from fgrad.interpreters import ad, batching, mlir


def _build_multiply_add(listed: bool, general: bool):
    """The tutorial's primitive, rule by rule, checking that each missing rule is a
    ``NotImplementedError`` naming what to define. ``listed``: rules return lists (JAX's
    newer form); ``general``: transpose and batch rules for every pattern of undefined
    and batched arguments (the tutorial's assume the patterns its examples produce)."""
    p = ext_core.Primitive("multiply_add")

    def prim(x, y, z):
        return p.bind1(x, y, z) if listed else p.bind(x, y, z)

    def square_add(a, b):
        return prim(a, a, b)

    def one(v):
        return [v] if listed else v

    with pytest.raises(NotImplementedError, match="Evaluation rule for 'multiply_add'"):
        square_add(2.0, 10.0)
    p.def_impl(lambda x, y, z: one(np.add(np.multiply(x, y), z)))
    assert square_add(2.0, 10.0) == 14.0

    with pytest.raises(NotImplementedError, match="Abstract evaluation for 'multiply_add'"):
        fgrad.jit(square_add)(2.0, 10.0)

    def abstract_eval(xs, ys, zs):
        assert xs.shape == ys.shape == zs.shape
        return one(core.ShapedArray(xs.shape, xs.dtype))

    p.def_abstract_eval(abstract_eval)
    with pytest.raises(NotImplementedError, match="MLIR translation rule .*'multiply_add'"):
        fgrad.jit(square_add)(2.0, 10.0)

    def lowering(ctx, xc, yc, zc):
        raise AssertionError("fgrad never calls a lowering")

    assert mlir.register_lowering(p, lowering, platform="cpu") is lowering
    with pytest.raises(NotImplementedError, match="no forward-mode"):
        fgrad.jvp(square_add, (2.0, 10.0), (1.0, 1.0))

    def value_and_jvp(arg_values, arg_tangents):
        x, y, z = arg_values
        xt, yt, zt = arg_tangents

        def make_zero(t):
            return lax.full_like(x, 0) if type(t) is ad.Zero else t

        tangent = prim(make_zero(xt), y, prim(x, make_zero(yt), make_zero(zt)))
        return ([prim(x, y, z)], [tangent]) if listed else (prim(x, y, z), tangent)

    ad.primitive_jvps[p] = value_and_jvp
    with pytest.raises(NotImplementedError, match="Transpose rule .* for 'multiply_add'"):
        fgrad.grad(square_add)(2.0, 10.0)

    def transpose(ct, x, y, z):
        if listed:
            (ct,) = ct
        ux, uy, uz = map(ad.is_undefined_primal, (x, y, z))
        assert ux != uy or general, "the tutorial's transpose expects x or y undefined"
        zero = lax.full_like(ct, 0)
        return (
            prim(ct, y, zero) if ux else None,
            prim(x, ct, zero) if uy else None,
            ct if uz else None,
        )

    ad.primitive_transposes[p] = transpose
    with pytest.raises(NotImplementedError, match="batch rule"):
        fgrad.vmap(square_add)(np.array([2.0, 3.0]), np.array([10.0, 20.0]))

    def batch(args, dims):
        if general:
            size = next(np.shape(a)[d] for a, d in zip(args, dims) if d is not None)
            args, dims = [batching.bdim_at_front(a, d, size) for a, d in zip(args, dims)], [0]
        else:
            assert dims[0] == dims[1] == dims[2]
        return ([prim(*args)], [dims[0]]) if listed else (prim(*args), dims[0])

    batching.primitive_batchers[p] = batch
    return p, prim, square_add


@pytest.mark.parametrize("listed", [False, True], ids=["returns values", "returns lists"])
def test_the_tutorial_steps_give_jaxs_results(listed):
    _, _, square_add = _build_multiply_add(listed, general=False)
    assert square_add(2.0, 10.0) == 14.0
    assert fgrad.jit(lambda x, y: square_add(x, y))(2.0, 10.0) == 14.0
    assert fgrad.jit(lambda x, y: square_add(x, y), static_argnums=1)(2.0, 10.0) == 14.0
    assert fgrad.jvp(square_add, (2.0, 10.0), (1.0, 1.0)) == (14.0, 5.0)
    jitted_jvp = fgrad.jit(lambda p, t: fgrad.jvp(square_add, p, t))
    assert jitted_jvp((2.0, 10.0), (1.0, 1.0)) == (14.0, 5.0)
    assert fgrad.grad(square_add)(2.0, 10.0) == 4.0
    assert fgrad.jit(fgrad.grad(square_add))(2.0, 10.0) == 4.0
    a, b = np.array([2.0, 3.0]), np.array([10.0, 20.0])
    np.testing.assert_array_equal(fgrad.vmap(square_add)(a, b), [14.0, 29.0])
    np.testing.assert_array_equal(fgrad.jit(fgrad.vmap(square_add))(a, b), [14.0, 29.0])


def test_the_tutorials_own_transpose_fails_where_jaxs_does():
    """Its transpose asserts that x or y is undefined; the gradient in b alone transposes
    in z only, and JAX raises the same AssertionError there."""
    _, _, square_add = _build_multiply_add(listed=False, general=False)
    with pytest.raises(AssertionError):
        fgrad.grad(square_add, argnums=1)(2.0, 10.0)


def test_every_composition_against_closed_forms():
    _, prim, square_add = _build_multiply_add(listed=False, general=True)
    # square_add(a, b) = a^2 + b: d/da = 2a, d/db = 1, d2/da2 = 2
    assert fgrad.grad(square_add, argnums=1)(2.0, 10.0) == 1.0
    assert fgrad.grad(fgrad.grad(square_add))(2.0, 10.0) == 2.0
    assert fgrad.jit(fgrad.grad(fgrad.grad(square_add)))(2.0, 10.0) == 2.0
    assert fgrad.grad(fgrad.jit(square_add))(3.0, 1.0) == 6.0
    xs = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(fgrad.vmap(fgrad.grad(square_add))(xs, np.zeros(3)), 2 * xs)
    np.testing.assert_array_equal(fgrad.vmap(square_add, (0, None))(xs, 1.0), xs**2 + 1)
    # g(x) = x * x + x elementwise: Jacobian diag(2x + 1)
    x = np.array([1.0, 2.0])

    def g(x):
        return prim(x, x, x)

    np.testing.assert_array_equal(fgrad.jacfwd(g)(x), np.diag(2 * x + 1))
    np.testing.assert_array_equal(fgrad.jacrev(g)(x), np.diag(2 * x + 1))
    # h = sum(g^2): Hessian diag(2 (2x + 1)^2 + 4 g)
    hess = fgrad.hessian(lambda x: fnp.sum(g(x) ** 2))(x)
    np.testing.assert_allclose(hess, np.diag(2 * (2 * x + 1) ** 2 + 4 * (x * x + x)))
    y, t = fgrad.jvp(fgrad.vmap(g), (x,), (np.ones(2),))
    np.testing.assert_array_equal(t, 2 * x + 1)
    eqns = [e.prim.name for e in fgrad.make_jaxpr(square_add)(2.0, 10.0).jaxpr.eqns]
    assert eqns == ["multiply_add"]


def test_a_nonlinear_primitive_with_per_argument_rules_and_no_transpose():
    """``ad.defjvp`` rules written with fgrad operations: reverse mode takes the vjp of the
    tangent map they give, to any order."""
    sin_p = ext_core.Primitive("my_sin")
    sin_p.def_impl(np.sin)
    sin_p.def_abstract_eval(lambda x: core.ShapedArray(x.shape, x.dtype))
    ad.defjvp(sin_p, lambda g, x: g * fnp.cos(x))
    batching.defvectorized(sin_p)
    mlir.register_lowering(sin_p, None)
    x = np.array([0.3, 1.2, -2.0])
    np.testing.assert_allclose(fgrad.grad(lambda x: fnp.sum(sin_p.bind(x)))(x), np.cos(x))
    f = fgrad.jit(fgrad.grad(lambda x: fnp.sum(sin_p.bind(x) * x)))
    np.testing.assert_allclose(f(x), np.cos(x) * x + np.sin(x), rtol=1e-14)
    second = fgrad.vmap(fgrad.grad(fgrad.grad(sin_p.bind)))(x)
    np.testing.assert_allclose(second, -np.sin(x), rtol=1e-14)
    third = fgrad.grad(fgrad.grad(fgrad.grad(sin_p.bind)))(0.3)
    np.testing.assert_allclose(third, -np.cos(0.3), rtol=1e-14)


def test_defjvp2_reads_the_result_and_defbroadcasting_batches_mixed_arguments():
    exp_p = ext_core.Primitive("my_exp")
    exp_p.def_impl(np.exp)
    exp_p.def_abstract_eval(lambda x: core.ShapedArray(x.shape, x.dtype))
    ad.defjvp2(exp_p, lambda g, ans, x: g * ans)
    mul_p = ext_core.Primitive("my_mul")
    mul_p.def_impl(np.multiply)
    mul_p.def_abstract_eval(lambda x, y: core.ShapedArray(x.shape, x.dtype))
    ad.defjvp(mul_p, lambda g, x, y: g * y, lambda g, x, y: x * g)
    batching.defbroadcasting(mul_p)
    x = np.array([0.5, -1.0])
    assert fgrad.jvp(exp_p.bind, (x,), (np.ones(2),))[1].tolist() == np.exp(x).tolist()
    np.testing.assert_allclose(
        fgrad.grad(lambda x: fnp.sum(mul_p.bind(exp_p.bind(x), x)))(x), np.exp(x) * (x + 1)
    )
    w = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(fgrad.vmap(mul_p.bind, (0, None))(w, x), w * x)
    np.testing.assert_array_equal(fgrad.vmap(mul_p.bind, (1, 0))(w.T, w), w * w)


def test_jvp_rules_see_zero_for_arguments_without_a_tangent():
    seen = []
    p = ext_core.Primitive("scaled")
    p.def_impl(lambda x, c: x * c)

    def rule(primals, tangents):
        seen.append([type(t).__name__ for t in tangents])
        x, c = primals
        xt, ct = (ad.instantiate_zeros(t) for t in tangents)
        return p.bind(x, c), xt * c + x * ct

    ad.primitive_jvps[p] = rule
    assert fgrad.jvp(lambda x: p.bind(x, 3.0), (2.0,), (1.0,)) == (6.0, 3.0)
    assert seen[-1][1] == "Zero"
    zero = ad.Zero.from_primal_value(np.ones((2, 3), np.float32))
    assert zero.aval.shape == (2, 3) and zero.aval.dtype == np.float32
    assert ad.instantiate_zeros(zero).tolist() == np.zeros((2, 3)).tolist()


def test_primitives_made_with_jaxs_api_stay_out_of_fgrads_registry():
    p = ext_core.Primitive("not_fgrads_own")
    assert "not_fgrads_own" not in registry
    assert p.requires_lowering and p.multiple_results is False
    assert ext_core.Primitive is core.Primitive is fgrad.core.primitive.Primitive
    assert mlir.lower_fun(np.sin) is np.sin


def test_multiple_result_primitives_take_no_jax_style_derivative_rules():
    p = ext_core.Primitive("two_results")
    p.multiple_results = True
    p.def_impl(lambda x: [x, 2 * x])
    assert p.bind(1.0) == (1.0, 2.0)
    with pytest.raises(NotImplementedError, match="fgrad.custom_jvp or fgrad.custom_vjp"):
        ad.primitive_jvps[p] = lambda primals, tangents: (primals, tangents)


def test_the_private_module_paths_the_tutorial_imports():
    """``from jax._src import api`` and ``from jax._src.lax import lax`` open the tutorial."""
    from fgrad._src import api
    from fgrad._src.lax import lax as private_lax

    def square_add_lax(a, b):
        return private_lax.add(private_lax.mul(a, a), b)

    assert square_add_lax(2.0, 10.0) == 14.0
    assert api.grad(square_add_lax, argnums=0)(2.0, 10.0) == 4.0
    assert api.jit is fgrad.jit and private_lax.full_like is lax.full_like


def test_the_hlo_module_lowering_rules_import_names_placeholders():
    """The tutorial's lowering cell imports ``hlo`` and registers a rule that fgrad never
    runs: the names exist, and calling one says why it cannot run."""
    from fgrad._src.lib.mlir.dialects import hlo

    def lowering(ctx, xc, yc, zc):
        return [hlo.AddOp(hlo.MulOp(xc, yc), zc).result]

    with pytest.raises(NotImplementedError, match="lowering rules never run"):
        lowering(None, 1, 2, 3)
