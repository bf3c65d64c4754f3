"""fgrad.numpy.linalg: NumPy's values and result types, derivatives of every function to
second order in both modes (finite differences), closed forms, edge cases and errors."""

from __future__ import annotations

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
import fgrad.numpy.linalg as fla
from fgrad.test_util import check_grads

RNG = np.random.default_rng(17)


def R(*shape):
    return RNG.standard_normal(shape)


def C(*shape):
    return R(*shape) + 1j * R(*shape)


def psd(n, *batch):
    m = R(*batch, n, n)
    return m @ np.swapaxes(m, -1, -2) + n * np.eye(n)


def well(n, *batch):
    return R(*batch, n, n) + 3 * np.eye(n)


# -- values like NumPy --------------------------------------------------------------------

VALUE_CASES = [
    ("solve", (well(4), R(4, 2))),
    ("solve", (well(4), R(4))),
    ("solve", (well(3, 2), R(3, 1))),
    ("inv", (well(3, 2),)),
    ("det", (well(3, 2),)),
    ("slogdet", (R(4, 4),)),
    ("cholesky", (psd(4, 2),)),
    ("eigh", (psd(4),)),
    ("eigvalsh", (psd(4),)),
    ("svd", (R(3, 5),)),
    ("svdvals", (R(2, 5, 3),)),
    ("qr", (R(5, 3),)),
    ("pinv", (R(5, 3),)),
    ("matrix_rank", (R(5, 3) @ R(3, 4),)),
    ("cond", (well(3),)),
    ("lstsq", (R(6, 3), R(6, 2))),
    ("multi_dot", ([R(2, 3), R(3, 4), R(4)],)),
    ("matrix_transpose", (R(2, 3, 4),)),
    ("outer", (R(3), R(2))),
    ("vecdot", (C(3, 4), C(3, 4))),
    ("trace", (R(2, 3, 3),)),
    ("diagonal", (R(2, 3, 4),)),
    ("tensorinv", (well(6).reshape(6, 2, 3), 1)),
    ("tensorsolve", (well(6).reshape(2, 3, 6), R(2, 3))),
    ("eigvals", (R(4, 4),)),
]


@pytest.mark.parametrize("name, args", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_values_types_and_dtypes_like_numpy(name, args):
    got, want = getattr(fla, name)(*args), getattr(np.linalg, name)(*args)
    if isinstance(want, tuple):
        assert type(got) is type(want)
    else:
        got, want = (got,), (want,)
    for g, w in zip(got, want):
        assert np.asarray(g).dtype == np.asarray(w).dtype and np.shape(g) == np.shape(w)
        np.testing.assert_allclose(
            np.abs(g) if name == "eigvals" else g,
            np.abs(w) if name == "eigvals" else w,
            rtol=1e-10,
            atol=1e-12,
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_dtypes_are_preserved(dtype):
    a = (well(3) + (1j * R(3, 3) if np.dtype(dtype).kind == "c" else 0)).astype(dtype)
    for name in ("inv", "det", "cholesky"):
        arg = a @ np.conj(a.T) if name == "cholesky" else a
        assert getattr(fla, name)(arg).dtype == getattr(np.linalg, name)(arg).dtype
    assert fla.solve(np.eye(2, dtype=int), np.ones(2, dtype=int)).dtype == np.float64


NORMS = [None, 1, 2, 3, -1, 0.5, np.inf, -np.inf, 0]
MATRIX_NORMS = [None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf]


@pytest.mark.parametrize("ord", NORMS)
def test_vector_norms_like_numpy(ord):
    for x in (R(6), C(6), R(3, 4)):
        for axis in (None, 0, -1) if x.ndim == 1 else (1, 0):
            for keepdims in (False, True):
                got = fla.norm(x, ord, axis, keepdims)
                want = np.linalg.norm(x, ord, axis, keepdims)
                assert np.shape(got) == np.shape(want)
                np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("ord", MATRIX_NORMS)
def test_matrix_norms_like_numpy(ord):
    for x, axis in ((R(4, 3), None), (R(2, 4, 3), (1, 2)), (C(3, 4, 2), (0, 2))):
        for keepdims in (False, True):
            got = fla.norm(x, ord, axis, keepdims)
            want = np.linalg.norm(x, ord, axis, keepdims)
            assert np.shape(got) == np.shape(want)
            np.testing.assert_allclose(got, want, rtol=1e-12)
    x = R(3, 4, 5)
    np.testing.assert_allclose(
        fla.vector_norm(x, axis=(0, 2)), np.linalg.vector_norm(x, axis=(0, 2))
    )
    np.testing.assert_allclose(fla.matrix_norm(x, ord="nuc"), np.linalg.matrix_norm(x, ord="nuc"))


# -- derivatives ----------------------------------------------------------------------------


def hermitian_part(a):
    return 0.5 * (a + fnp.conj(fnp.swapaxes(a, -1, -2)))


def on_hermitian(f, unread=0.0):
    """``f`` of ``unread + hermitian_part(a)``. ``cholesky`` and ``eigh`` differentiate as
    functions of a Hermitian matrix (tangents enter through their Hermitian part), which is
    the derivative of what LAPACK computes along Hermitian directions only: finite differences
    must move along those. ``unread`` is a triangle LAPACK does not read: values ignore it and
    so must derivatives."""
    return lambda a: f(unread + hermitian_part(a))


GRAD_CASES = [
    ("solve", lambda a, b: fla.solve(a, b), (well(4), R(4, 2))),
    ("solve-vector", lambda a, b: fla.solve(a, b), (well(4), R(4))),
    ("solve-batched", lambda a, b: fla.solve(a, b), (well(3, 2), R(3, 1))),
    ("inv", fla.inv, (well(3, 2),)),
    ("det", fla.det, (R(2, 3, 3),)),
    ("slogdet", lambda a: fla.slogdet(a)[1], (well(4),)),
    ("cholesky", on_hermitian(fla.cholesky), (psd(4, 2),)),
    ("cholesky-reads-lower", on_hermitian(fla.cholesky, np.triu(R(4, 4), 1)), (psd(4),)),
    ("eigh", on_hermitian(lambda a: tuple(fla.eigh(a))), (R(5, 5),)),
    (
        "eigh-upper",
        on_hermitian(lambda a: tuple(fla.eigh(a, "U")), np.tril(R(5, 5), -1)),
        (R(5, 5),),
    ),
    ("eigh-batched", on_hermitian(lambda a: tuple(fla.eigh(a))), (psd(4, 2),)),
    ("svd-wide", lambda a: tuple(fla.svd(a, full_matrices=False)), (R(3, 5),)),
    ("svd-tall", lambda a: tuple(fla.svd(a, full_matrices=False)), (R(2, 5, 3),)),
    ("svd-square", lambda a: tuple(fla.svd(a)), (R(4, 4),)),
    ("svd-values", lambda a: fla.svd(a, compute_uv=False), (R(3, 5),)),
    ("qr", lambda a: tuple(fla.qr(a)), (R(5, 3),)),
    ("qr-r", lambda a: fla.qr(a, mode="r"), (R(4, 4),)),
    ("eig", lambda a: (fnp.abs(fla.eig(a)[0]), fnp.abs(fla.eig(a)[1])), (R(4, 4),)),
    ("pinv-tall", fla.pinv, (R(5, 3),)),
    ("pinv-wide", fla.pinv, (R(2, 3, 5),)),
    ("matrix_power", lambda a: fla.matrix_power(a, 3), (R(3, 3),)),
    ("matrix_power-negative", lambda a: fla.matrix_power(a, -2), (well(3),)),
    ("lstsq", lambda a, b: fla.lstsq(a, b)[0], (R(5, 3), R(5))),
    ("lstsq-residuals", lambda a, b: fla.lstsq(a, b)[1], (R(5, 3), R(5, 2))),
    ("cond", fla.cond, (well(3),)),
    ("tensorsolve", fla.tensorsolve, (well(6).reshape(2, 3, 6), R(2, 3))),
    *[(f"norm-{o}", lambda x, o=o: fla.norm(x, o), (R(6),)) for o in NORMS if o != 0],
    *[(f"norm-matrix-{o}", lambda x, o=o: fla.norm(x, o), (R(4, 3),)) for o in MATRIX_NORMS],
    ("norm-axis", lambda x: fla.norm(x, axis=1), (R(4, 3, 2),)),
]


@pytest.mark.parametrize("name, f, args", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_derivatives_second_order_both_modes(name, f, args):
    check_grads(f, args, order=2)


M = C(3, 3)
HERMITIAN = M @ np.conj(M.T) + 3 * np.eye(3)
COMPLEX_CASES = [
    ("solve", lambda a, b: fla.solve(a, b), (well(3) + 1j * R(3, 3), C(3, 2))),
    ("inv", fla.inv, (well(3) + 1j * R(3, 3),)),
    ("det", fla.det, (C(3, 3),)),
    ("slogdet", lambda a: tuple(fla.slogdet(a)), (C(3, 3),)),
    ("cholesky", on_hermitian(fla.cholesky), (HERMITIAN,)),
    ("eigh", on_hermitian(lambda a: (fla.eigh(a)[0], fnp.abs(fla.eigh(a)[1]))), (C(4, 4),)),
    ("svd", lambda a: (fnp.abs(fla.svd(a, False)[0]), fla.svd(a, False)[1]), (C(3, 4),)),
    ("eig", lambda a: (fla.eig(a)[0], fnp.abs(fla.eig(a)[1])), (C(4, 4),)),
    ("norm", fla.norm, (C(5),)),
    ("norm-nuc", lambda x: fla.norm(x, "nuc"), (C(3, 4),)),
]


@pytest.mark.parametrize("name, f, args", COMPLEX_CASES, ids=[c[0] for c in COMPLEX_CASES])
def test_complex_derivatives(name, f, args):
    check_grads(f, args, order=1)


def test_closed_forms():
    a = well(4)
    inv_t = np.linalg.inv(a).T
    np.testing.assert_allclose(fgrad.grad(fla.det)(a), np.linalg.det(a) * inv_t, rtol=1e-10)
    np.testing.assert_allclose(fgrad.grad(lambda a: fla.slogdet(a)[1])(a), inv_t, rtol=1e-10)
    # d tr(inv(A)) = -inv(A)^2 transposed
    g = fgrad.grad(lambda a: fnp.trace(fla.inv(a)))(a)
    np.testing.assert_allclose(g, -(np.linalg.inv(a) @ np.linalg.inv(a)).T, rtol=1e-10)
    # eigenvalues of a symmetric matrix: d w_k / dA = v_k v_k^T (symmetric-input convention)
    s = psd(4)
    w, v = np.linalg.eigh(s)
    g = fgrad.grad(lambda a: fla.eigh(a)[0][2])(s)
    np.testing.assert_allclose(g, np.outer(v[:, 2], v[:, 2]), atol=1e-10)
    # sum(log(diag(L))) = logdet(S) / 2, gradient inv(S) / 2
    g = fgrad.grad(lambda a: fnp.sum(fnp.log(fnp.diagonal(fla.cholesky(a)))))(s)
    np.testing.assert_allclose(g, np.linalg.inv(s) / 2, rtol=1e-10)
    # singular values: d s_k / dA = u_k v_k^T
    x = R(4, 3)
    u, _, vh = np.linalg.svd(x, full_matrices=False)
    g = fgrad.grad(lambda a: fla.svd(a, compute_uv=False)[0])(x)
    np.testing.assert_allclose(g, np.outer(u[:, 0], vh[0]), atol=1e-10)


def test_jacfwd_equals_jacrev_and_hessians():
    a = psd(3)
    for f in (fla.cholesky, fla.inv, lambda a: fla.eigh(a)[0], lambda a: fla.svd(a)[1]):
        np.testing.assert_allclose(fgrad.jacfwd(f)(a), fgrad.jacrev(f)(a), atol=1e-10)
    h = fgrad.hessian(lambda a: fla.slogdet(a)[1])(a)
    # d^2 logdet: -inv(A)^T[j, k] ... as a 4-tensor: -inv[l, i] inv[j, k]
    inv = np.linalg.inv(a)
    np.testing.assert_allclose(h, -np.einsum("li,jk->ijkl", inv, inv), atol=1e-10)


def test_norms_are_safe_at_zero():
    zero = np.zeros(4)
    for ord in (None, 2, 3, 0.5, 1):
        g = fgrad.grad(lambda x, ord=ord: fla.norm(x, ord))(zero)
        assert np.all(np.isfinite(g)), ord
    np.testing.assert_array_equal(fgrad.grad(fla.norm)(zero), zero)
    np.testing.assert_array_equal(fgrad.grad(fla.norm)(np.zeros((2, 3))), np.zeros((2, 3)))
    np.testing.assert_array_equal(fgrad.jvp(fla.norm, (zero,), (np.ones(4),))[1], 0.0)
    assert np.all(np.isfinite(fgrad.hessian(lambda x: fla.norm(x) ** 2)(zero)))
    # the list-of-values form (HIPS autograd's test): d/dx |(x, x + 2)| at 0 is 1
    assert fgrad.grad(lambda x: fla.norm(fnp.array([x, x + 2])))(0.0) == pytest.approx(1.0)


def test_errors_are_clear():
    with pytest.raises(np.linalg.LinAlgError, match="square"):
        fla.inv(R(3, 4))
    with pytest.raises(np.linalg.LinAlgError, match="square"):
        fla.det(R(3))
    with pytest.raises(ValueError, match="do not match"):
        fla.solve(well(3), R(4))
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        fgrad.grad(lambda a: fnp.sum(fla.svd(a)[0]))(R(3, 4))
    with pytest.raises(ValueError, match="invalid norm order"):
        fla.norm(R(3, 3), "bogus")
    with pytest.raises(np.linalg.LinAlgError, match=r"cholesky.*square.*\(3,\)"):
        fla.cholesky(R(3))
    with pytest.raises(fgrad.DtypeError, match=r"linalg_eigh: LAPACK takes.*f16\[3,3\]"):
        fla.eigh(psd(3).astype(np.float16))
    from fgrad.primitives.factorizations import linalg_svd

    with pytest.raises(fgrad.ShapeError, match=r"linalg_svd: .*matrix.*f64\[3\]"):
        fgrad.make_jaxpr(linalg_svd)(R(3))


# -- staging: make_jaxpr, jit, and replays of a jaxpr under the other transforms ----------


def _weighted_sum(f):
    """A real scalar of all of ``f``'s outputs with fixed weights: every output matters."""

    def scalar(*args):
        outs = f(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        total = 0.0
        for k, o in enumerate(outs):
            w = np.random.default_rng(k).standard_normal(np.shape(o))
            total = total + fnp.sum(fnp.real(o) * w)
        return total

    return scalar


STAGE_CASES = GRAD_CASES + [("complex-" + n, f, a) for n, f, a in COMPLEX_CASES]


@pytest.mark.parametrize("name, f, args", STAGE_CASES, ids=[c[0] for c in STAGE_CASES])
def test_jit_and_replayed_jaxprs_match_eager(name, f, args):
    scalar = _weighted_sum(f)
    argnums = tuple(range(len(args)))
    want = f(*args)
    got = fgrad.jit(f)(*args)
    for g, w in zip(fgrad.tree_leaves(got), fgrad.tree_leaves(want)):
        assert np.shape(g) == np.shape(w) and np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    want_grads = fgrad.grad(scalar, argnums)(*args)
    jit_grads = fgrad.jit(fgrad.grad(scalar, argnums))(*args)
    # a staged jaxpr replayed under grad is differentiated by the custom rules
    closed = fgrad.make_jaxpr(scalar)(*args)
    replay_grads = fgrad.grad(lambda *a: closed(*a), argnums)(*args)
    for got_grads in (jit_grads, replay_grads):
        for g, w in zip(got_grads, want_grads):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-11)


def test_factorisations_print_as_multi_output_equations():
    text = str(fgrad.make_jaxpr(lambda a: fla.eigh(a, "U"))(psd(3)))
    assert "b:f64[3] c:f64[3,3] = linalg_eigh[lower=False] a" in text
    text = str(fgrad.make_jaxpr(lambda a: fla.svd(a, full_matrices=False))(R(4, 3)))
    assert "b:f64[4,3] c:f64[3] d:f64[3,3] = linalg_svd a" in text
    # unused results are dropped by jit; the ones used survive CSE of the repeated call
    a = R(4, 3)
    f = fgrad.jit(lambda a: fla.qr(a)[1] + fla.qr(a)[1])
    np.testing.assert_allclose(f(a), 2 * np.linalg.qr(a)[1], rtol=1e-12)


def test_every_factorisation_primitive_stages():
    from fgrad.core.primitive import registry

    # the other multi-output primitives (while_loop, debug_print) are tested with their
    # modules, tests/test_lax.py and tests/test_debug.py
    multi = sorted(n for n, p in registry.items() if p.multiple_results and "linalg" in n)
    assert multi == ["linalg_eig", "linalg_eigh", "linalg_qr", "linalg_slogdet", "linalg_svd"]
    calls = {
        "linalg_eig": lambda a: fla.eig(a),
        "linalg_eigh": lambda a: fla.eigh(a),
        "linalg_qr": lambda a: fla.qr(a[:, :3]),
        "linalg_slogdet": lambda a: fla.slogdet(a),
        "linalg_svd": lambda a: fla.svd(a[:3], full_matrices=False),
    }
    for name in multi:
        closed = fgrad.make_jaxpr(calls[name])(psd(4))
        (eqn,) = [e for e in closed.eqns if e.prim.name == name]
        values = registry[name].impl(psd(4)[:3] if name == "linalg_svd" else psd(4)[:, :3]
                                     if name == "linalg_qr" else psd(4), **eqn.params)
        assert len(values) == len(eqn.outvars)
        for v, var in zip(values, eqn.outvars):  # abstract eval agrees with LAPACK
            assert (np.shape(v), np.asarray(v).dtype) == (var.aval.shape, var.aval.dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_jit_keeps_single_precision(dtype):
    a = (psd(3) + (1j * np.triu(R(3, 3), 1) if np.dtype(dtype).kind == "c" else 0)).astype(dtype)
    for f in (fla.eigh, fla.svd, fla.qr, fla.slogdet, fla.pinv):
        for g, w in zip(fgrad.tree_leaves(fgrad.jit(f)(a)), fgrad.tree_leaves(f(a))):
            assert np.asarray(g).dtype == np.asarray(w).dtype, (f.__name__, g.dtype, w.dtype)


def test_eig_under_jit_is_complex_as_in_jax():
    a = psd(3)  # real eigenvalues: NumPy (and eager fgrad) return real arrays
    w, v = fla.eig(a)
    assert w.dtype == v.dtype == np.float64
    jw, jv = fgrad.jit(fla.eig)(a)
    assert jw.dtype == jv.dtype == np.complex128
    np.testing.assert_allclose(jw, w, rtol=1e-12)
    np.testing.assert_allclose(jv, v, rtol=1e-12)


def test_replays_and_jit_compose_with_vmap_and_hessian():
    stack = psd(3, 4)

    def f(a):
        w, v = fla.eigh(a)
        return fla.slogdet(a)[1] + fnp.sum(w * fnp.abs(v[0]))

    want = np.array([f(a) for a in stack])
    closed = fgrad.make_jaxpr(f)(stack[0])
    np.testing.assert_allclose(fgrad.vmap(closed)(stack), want, rtol=1e-12)
    np.testing.assert_allclose(fgrad.jit(fgrad.vmap(f))(stack), want, rtol=1e-12)
    # the Hessian of log det, staged whole: -inv[l, i] inv[j, k]
    a = psd(3)
    inv = np.linalg.inv(a)
    h = fgrad.jit(fgrad.hessian(lambda a: fla.slogdet(a)[1]))(a)
    np.testing.assert_allclose(h, -np.einsum("li,jk->ijkl", inv, inv), atol=1e-10)


def test_rank_and_lstsq_under_jit_and_vmap():
    low = R(6, 2) @ R(2, 4)
    for a in (R(5, 3), low, low.T):
        want = np.linalg.matrix_rank(a)
        assert fla.matrix_rank(a) == want
        assert fgrad.jit(fla.matrix_rank)(a) == want
        assert fgrad.jit(lambda a: fla.matrix_rank(a @ a.T, hermitian=True))(a) == want
    stack = np.stack([R(5, 3), R(5, 2) @ R(2, 3)])
    np.testing.assert_array_equal(fgrad.vmap(fla.matrix_rank)(stack), [3, 2])
    a, b = R(6, 3), R(6, 2)
    x, resid, rank, s = fgrad.jit(fla.lstsq)(a, b)
    wx, wresid, wrank, ws = np.linalg.lstsq(a, b)
    np.testing.assert_allclose(x, wx, rtol=1e-10)
    np.testing.assert_allclose(resid, wresid, rtol=1e-10)
    assert rank == wrank and rank.dtype == np.int32
    np.testing.assert_allclose(s, ws, rtol=1e-12)
    xs = fgrad.vmap(lambda b: fla.lstsq(a, b)[0], in_axes=1, out_axes=1)(b)
    np.testing.assert_allclose(xs, wx, rtol=1e-10)


def test_import_paths():
    import fgrad.numpy.linalg as a

    assert a is fnp.linalg is fla
