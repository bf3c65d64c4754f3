"""``jit`` keeps eager mode's promises: results the caller owns, a program per typed
signature, closed-over arrays captured at trace time, closures over an enclosing
transform's tracers, and a bounded cache that explains its retraces."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fgrad
import fgrad.numpy as fnp
from fgrad import grad, hessian, jacfwd, jacrev, jit, jvp, vjp, vmap
from fgrad.transforms.codegen import Replay
from fgrad.transforms.jit_cache import DEFAULT_CACHE_SIZE, RETRACE_WARNING_AFTER
from fgrad.transforms.optimize import optimize
from tests.helpers import numerical_grad

W = np.arange(6.0).reshape(3, 2)


def arrays(tree) -> list[np.ndarray]:
    return [x for x in fgrad.tree_leaves(tree) if isinstance(x, np.ndarray)]


def assert_owned(results, inputs, earlier=()):
    """Every result is writeable and shares memory with no input, no other result and no
    result of an earlier call."""
    outs = arrays(results)
    for k, o in enumerate(outs):
        assert o.flags.writeable
        for a in arrays(inputs):
            assert not np.shares_memory(o, a)
        for p in outs[:k]:
            assert not np.shares_memory(o, p)
        for p in arrays(earlier):
            assert not np.shares_memory(o, p)


# -- 3: results are fresh arrays --------------------------------------------------------------

ALIASING = {
    "the argument": lambda v: v,
    "the argument twice": lambda v: (v, v),
    "the argument and a result": lambda v: (v, 2 * v),
    "reshape": lambda v: v.reshape(-1),
    "transpose": lambda v: v.T,
    "a row": lambda v: v[0],
    "a slice": lambda v: v[1:],
    "squeeze": lambda v: fnp.squeeze(v[None]),
    "expand_dims": lambda v: fnp.expand_dims(v, 0),
    "ravel": lambda v: fnp.ravel(v),
    "swapaxes": lambda v: fnp.swapaxes(v, 0, 1),
    "moveaxis": lambda v: fnp.moveaxis(v, 0, 1),
    "atleast_2d": lambda v: fnp.atleast_2d(v),
    "flip": lambda v: fnp.flip(v, 0),
    "split": lambda v: fnp.split(v, 3, axis=0),
    "real": lambda v: fnp.real(v),
    "stop_gradient": lambda v: fgrad.stop_gradient(v),
    "astype to its own dtype": lambda v: v.astype(np.float64),
    "asarray": lambda v: fnp.asarray(v),
    "copy": lambda v: fnp.copy(v),
    "concatenate of one": lambda v: fnp.concatenate([v]),
    "broadcast_to of the argument": lambda v: fnp.broadcast_to(v, (2, 3, 2)),
    "broadcast_to of a sum (read-only)": lambda v: fnp.broadcast_to(v.sum(), (3,)),
    "a closed-over constant": lambda v: (W, v * 1.0),
    "a folded constant's transpose": lambda v: (W.T * 2.0, v * 1.0),
    "a row of a folded constant": lambda v: (fnp.take(W * 2.0, 1, axis=0), v[0, 0]),
    "a value twice": lambda v: (lambda y: (y, y))(fnp.sin(v)),
    "a value and its transpose": lambda v: (lambda y: (y, y.T))(fnp.sin(v)),
    "views of one value in a dict": lambda v: (lambda y: {"a": y.reshape(-1), "b": y[0]})(
        fnp.sin(v)
    ),
    "a literal beside the argument": lambda v: (v, 1.0),
    "cond of the argument": lambda v: fgrad.lax.cond(True, lambda u: u, lambda u: -u, v),
    "while_loop running zero times": lambda v: fgrad.lax.while_loop(
        lambda c: c[1] < 0, lambda c: c, (v, 0)
    )[0],
    "fori_loop running zero times": lambda v: fgrad.lax.fori_loop(0, 0, lambda i, c: c, v),
}


@pytest.fixture
def v():
    return np.arange(1.0, 7.0).reshape(3, 2)


class TestFreshResults:
    def test_reproducer_folded_constant_view(self):
        f = jit(lambda i: fnp.take(W * 2.0, i, axis=0))
        r = f(1)
        r[:] = 0
        np.testing.assert_array_equal(f(1), [4.0, 6.0])

    def test_reproducer_argument_returned(self, v):
        out = jit(lambda u: (u, 2 * u))(v)
        assert out[0] is not v
        out[0][:] = -1
        np.testing.assert_array_equal(v, np.arange(1.0, 7.0).reshape(3, 2))

    @pytest.mark.parametrize("name", ALIASING)
    def test_jit(self, name, v):
        f = jit(ALIASING[name])
        want = ALIASING[name](v.copy())
        first = f(v)
        second = f(v)
        assert_owned(first, [v, W])
        assert_owned(second, [v, W], earlier=first)
        for r in arrays(first):  # writing into a result changes nothing the next call sees
            r[...] = -7.0
        for got, w in zip(fgrad.tree_leaves(f(v)), fgrad.tree_leaves(want)):
            np.testing.assert_array_equal(got, w)
        np.testing.assert_array_equal(v, np.arange(1.0, 7.0).reshape(3, 2))

    @pytest.mark.parametrize("name", ALIASING)
    def test_jvp_of_jit(self, name, v):
        t = np.ones_like(v)
        primal, tangent = jvp(jit(ALIASING[name]), (v,), (t,))
        assert_owned((primal, tangent), [v, t, W])

    @pytest.mark.parametrize("name", ALIASING)
    def test_vmap_of_jit(self, name, v):
        vs = np.stack([v, v + 1.0])
        assert_owned(vmap(jit(ALIASING[name]))(vs), [vs, W])

    @pytest.mark.parametrize("name", ALIASING)
    def test_vjp_of_jit(self, name, v):
        out, pullback = vjp(jit(ALIASING[name]), v)
        assert_owned(out, [v, W])
        cts = fgrad.tree_map(lambda o: np.ones(np.shape(o)), out)
        (ct,) = pullback(cts)
        assert_owned([ct], [v, W, *arrays(cts), *arrays(out)])

    @pytest.mark.parametrize(
        "f",
        [lambda u: fnp.sum(u), lambda u: fnp.sum(u[0] * 2.0), lambda u: fnp.sum(u.T @ u)],
        ids=["sum", "sum of a row", "gram"],
    )
    def test_grad_of_jit_gradients(self, f, v):
        g = grad(jit(f))(v)
        assert_owned([g], [v])
        np.testing.assert_allclose(g, numerical_grad(f, v), rtol=1e-7, atol=1e-8)

    @pytest.mark.parametrize(
        "f",
        [
            lambda a, b: (a + b).sum(),
            lambda a, b: fnp.sum(a) + fnp.sum(b),
            lambda a, b: (a * b).sum(),
        ],
        ids=["a + b", "two sums", "a * b"],
    )
    def test_gradients_of_several_arguments_share_nothing(self, f):
        a, b = np.ones(3), np.full(3, 2.0)
        ga, gb = grad(jit(f), argnums=(0, 1))(a, b)
        assert_owned([ga, gb], [a, b])
        np.testing.assert_allclose(ga, numerical_grad(f, a, b), rtol=1e-7)
        np.testing.assert_allclose(gb, numerical_grad(f, a, b, argnums=1), rtol=1e-7)

    def test_only_possible_aliases_are_copied(self):
        """The decision is made from the jaxpr: fresh results cost nothing, a view of an
        intermediate is only checked for being read-only."""

        def fresh(x):
            y = fnp.sin(x)
            return y * 2.0, y.reshape(-1), fnp.cos(x)

        src = Replay(optimize(fgrad.make_jaxpr(fresh)(np.ones((2, 3))))).source
        assert src.splitlines()[-1] == "    return [v1, writeable(v2), v3]"
        assert "copy(" not in src
        src = Replay(optimize(fgrad.make_jaxpr(lambda x: (x.T, x + 1.0))(np.ones(3)))).source
        assert src.splitlines()[-1].startswith("    return [copy(a0)")


# -- 4: static arguments keyed with their types -----------------------------------------------


class TestStaticTypes:
    def make(self, **kw):
        traces = []

        def f(x, n):
            traces.append(n)
            return x + fnp.full((), n[0] if isinstance(n, tuple) else n)

        return jit(f, **kw), traces

    @pytest.mark.parametrize(
        "values, dtypes",
        [
            ((2, 2.0), (np.int64, np.float64)),
            ((1, True), (np.int64, np.int32)),
            ((2.0, 2), (np.float64, np.int64)),
            (((1, 2), (1.0, 2)), (np.int64, np.float64)),
            (((True, 2), (1, 2)), (np.int32, np.int64)),
        ],
    )
    def test_equal_values_of_different_types_trace_apart(self, values, dtypes):
        for kw in ({"static_argnums": 1}, {"static_argnames": "n"}):
            f, traces = self.make(**kw)
            x = np.int32(1)
            for value, dtype in zip(values, dtypes):
                out = f(x, value) if "static_argnums" in kw else f(x, n=value)
                assert out.dtype == dtype
                assert out == 1 + (value[0] if isinstance(value, tuple) else value)
            assert len(traces) == 2
            f(x, values[0]) if "static_argnums" in kw else f(x, n=values[0])
            assert len(traces) == 2  # and each keeps its own program

    def test_signed_zero_is_a_different_value(self):
        f = jit(lambda x, n: x / n, static_argnums=1)
        with np.errstate(divide="ignore"):
            assert f(1.0, 0.0) == np.inf
            assert f(1.0, -0.0) == -np.inf

    def test_under_vmap_too(self):
        f = jit(lambda x, n: x * fnp.full((), n), static_argnums=1)
        xs = np.arange(3, dtype=np.int32)
        assert vmap(lambda x: f(x, 2))(xs).dtype == np.int64
        assert vmap(lambda x: f(x, 2.0))(xs).dtype == np.float64
        assert vmap(lambda x: f(x, True))(xs).dtype == np.int32


# -- 7: closed-over arrays are captured when traced ------------------------------------------

GLOBAL = np.array([3.0])


class TestCapturedConstants:
    def test_reproducer(self):
        a = np.array([3.0])
        f = jit(lambda x: (a * 3.0 + a * x).sum())  # a folded and a live use of ``a``
        assert f(0.0) == 9.0
        a[0] = 4.0
        assert f(0.0) == 9.0
        assert f(1.0) == 12.0  # 3*3 + 3*1: the value at trace time, everywhere
        assert f(np.ones(2)) == 32.0  # a new signature traces again: 2 * (4*3 + 4*1)

    def test_global(self):
        f = jit(lambda x: (GLOBAL * x).sum())
        try:
            assert f(2.0) == 6.0
            GLOBAL[0] = 10.0
            assert f(2.0) == 6.0
        finally:
            GLOBAL[0] = 3.0

    @pytest.mark.parametrize("transform", ["grad", "jvp", "vmap", "jit of grad"])
    def test_transformed_programs_capture_too(self, transform):
        """Each compiled program (``grad(jit(f))`` compiles one of its own) keeps the values
        of its own trace."""
        a = np.array([1.0, 2.0])

        def f(x):
            return fnp.sum(fnp.sin(a * x) + (a * 2.0) * x)

        def derivative(x, a):
            return np.sum(a * np.cos(a * x) + 2 * a)

        jf = jit(f)
        run, want, x = {
            "grad": (lambda x: grad(jf)(x), derivative, 0.3),
            "jvp": (lambda x: jvp(jf, (x,), (0.5,))[1], lambda x, a: derivative(x, a) / 2, 0.3),
            "vmap": (
                lambda x: vmap(jf)(x),
                lambda x, a: [np.sum(np.sin(a * xi) + 2 * a * xi) for xi in x],
                np.array([0.3, 0.4]),
            ),
            "jit of grad": (jit(grad(jf)), derivative, 0.3),
        }[transform]
        np.testing.assert_allclose(run(x), want(x, a.copy()), rtol=1e-13)
        old = a.copy()
        a[:] = [5.0, 7.0]
        np.testing.assert_allclose(run(x), want(x, old), rtol=1e-13)

    def test_returned_constant_is_not_the_captured_one(self):
        a = np.ones(2)
        f = jit(lambda x: (a, x))
        out, _ = f(1.0)
        assert not np.shares_memory(out, a)
        out[:] = 5.0
        np.testing.assert_array_equal(f(1.0)[0], [1.0, 1.0])
        np.testing.assert_array_equal(a, [1.0, 1.0])


# -- 9: a jitted function closing over an enclosing transform's tracer ------------------------


def closing(x):
    return lambda y: fnp.sin(x) * y**2 + x * y


def over_closure(jitted: bool):
    wrap = jit if jitted else (lambda f: f)

    def f(x):
        return wrap(closing(x))(1.3)

    return f


def over_argument_and_closure(jitted: bool):
    wrap = jit if jitted else (lambda f: f)

    def f(x):
        return wrap(closing(x))(x)

    return f


def jit_in_jit(jitted: bool):
    wrap = jit if jitted else (lambda f: f)

    def f(x):
        return wrap(lambda y: wrap(lambda z: fnp.exp(x) * z * y)(2.0))(x)

    return f


XS = np.linspace(0.1, 1.0, 4)
TRANSFORMS = {
    "grad": lambda f: grad(f)(0.7),
    "grad of grad": lambda f: grad(grad(f))(0.7),
    "jit of grad": lambda f: jit(grad(f))(0.7),
    "grad of jit": lambda f: grad(jit(f))(0.7),
    "vmap": lambda f: vmap(f)(XS),
    "vmap of vmap": lambda f: vmap(vmap(f))(np.stack([XS, 2 * XS])),
    "vmap of grad": lambda f: vmap(grad(f))(XS),
    "grad of vmap": lambda f: grad(lambda v: vmap(f)(v).sum())(XS),
    "jvp": lambda f: jvp(f, (0.7,), (1.0,))[1],
    "jvp of jvp": lambda f: jvp(lambda x: jvp(f, (x,), (1.0,))[1], (0.7,), (1.0,))[1],
    "jvp of grad": lambda f: jvp(grad(f), (0.7,), (1.0,))[1],
    "grad of jvp": lambda f: grad(lambda x: jvp(f, (x,), (1.0,))[1])(0.7),
    "hessian": lambda f: hessian(f)(0.7),
    "jacrev of vmap": lambda f: jacrev(vmap(f))(XS),
    "jacfwd of vmap": lambda f: jacfwd(vmap(f))(XS),
    "jit of vmap of grad": lambda f: jit(vmap(grad(f)))(XS),
}


class TestClosureOverTracers:
    def test_reproducers(self):
        assert grad(lambda x: jit(lambda y: x * y)(2.0))(3.0) == 2.0
        xs = np.linspace(-1.0, 1.0, 5)
        np.testing.assert_allclose(
            vmap(lambda x: jit(lambda y: fnp.sin(x) + y)(1.0))(xs), np.sin(xs) + 1.0, rtol=1e-15
        )
        assert jit(lambda x: jit(lambda y: x * y)(2.0))(3.0) == 6.0
        assert jvp(lambda x: jit(lambda y: x * y)(2.0), (3.0,), (1.0,)) == (6.0, 2.0)

    @pytest.mark.parametrize("transform", TRANSFORMS)
    @pytest.mark.parametrize("program", [over_closure, over_argument_and_closure, jit_in_jit])
    def test_matches_the_function_without_jit(self, program, transform):
        got = TRANSFORMS[transform](program(True))
        want = TRANSFORMS[transform](program(False))
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)

    def test_against_closed_forms(self):
        # d/dx [sin(x) y^2 + x y] at y = 1.3, and its second derivative
        x = 0.7
        f = over_closure(True)
        np.testing.assert_allclose(grad(f)(x), np.cos(x) * 1.69 + 1.3, rtol=1e-14)
        np.testing.assert_allclose(grad(grad(f))(x), -np.sin(x) * 1.69, rtol=1e-14)
        g = over_argument_and_closure(True)  # sin(x) x^2 + x^2
        want = np.cos(x) * x**2 + 2 * x * np.sin(x) + 2 * x
        np.testing.assert_allclose(grad(g)(x), want, rtol=1e-14)

    def test_against_jax(self):
        jax = pytest.importorskip("jax")
        jnp = pytest.importorskip("jax.numpy")
        x64 = jax.config.jax_enable_x64
        jax.config.update("jax_enable_x64", True)
        try:
            self.compare_with_jax(jax, jnp)
        finally:
            jax.config.update("jax_enable_x64", x64)

    def compare_with_jax(self, jax, jnp):
        def program(jit_, np_):
            return lambda x: jit_(lambda y: jit_(lambda z: np_.sin(x) * z**2 + x * y)(y))(1.3)

        ours, theirs = program(jit, fnp), program(jax.jit, jnp)
        cases = [
            (grad(ours), jax.grad(theirs), 0.7),
            (grad(grad(ours)), jax.grad(jax.grad(theirs)), 0.7),
            (vmap(grad(ours)), jax.vmap(jax.grad(theirs)), XS),
            (jvp(ours, (0.7,), (1.0,))[1], jax.jvp(theirs, (0.7,), (1.0,))[1], None),
        ]
        for got, want, x in cases:
            if x is not None:
                got, want = got(x), want(x)
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-13)

    def test_custom_rules_inside_apply(self):
        @fgrad.custom_vjp
        def halve_gradient(u):
            return u

        halve_gradient.defvjp(lambda u: (u, None), lambda _, g: (0.5 * g,))

        def f(jitted):
            wrap = jit if jitted else (lambda g: g)
            return lambda x: wrap(lambda y: halve_gradient(x * y) + x)(2.0)

        assert grad(f(True))(3.0) == 0.5 * 2.0 + 1.0
        assert grad(f(True))(3.0) == grad(f(False))(3.0)
        xs = np.array([1.0, 2.0])
        np.testing.assert_array_equal(vmap(grad(f(True)))(xs), [2.0, 2.0])

    def test_a_jitted_function_used_under_several_traces(self):
        """The tracer closed over differs per call: nothing about it is cached."""
        box = {}
        inner = jit(lambda y: box["x"] ** 2 * y)

        def f(x):
            box["x"] = x
            return inner(3.0)

        assert grad(f)(2.0) == 12.0
        assert grad(f)(5.0) == 30.0
        np.testing.assert_allclose(vmap(f)(np.array([1.0, 2.0])), [3.0, 12.0])
        box["x"] = 2.0
        assert inner(1.0) == 4.0


# -- 17: a bounded cache, and a warning that explains retracing -------------------------------


def counting(**kw):
    traces = []

    def f(x, scale=1.0):
        traces.append(np.shape(x))
        return x * scale

    return jit(f, **kw), traces


class TestCache:
    def test_least_recently_used_is_dropped(self):
        f, traces = counting(cache_size=3)
        for n in (1, 2, 3):
            f(np.ones(n))
        f(np.ones(1))  # now 2 is the least recently used
        f(np.ones(4))  # drops 2
        assert f._cache_size() == 3
        assert len(traces) == 4
        f(np.ones(1))
        f(np.ones(3))
        f(np.ones(4))
        assert len(traces) == 4
        f(np.ones(2))  # traced again
        assert len(traces) == 5
        assert traces[-1] == (2,)

    def test_default_bound(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fgrad.RetraceWarning)
            f, traces = counting()
            for n in range(1, DEFAULT_CACHE_SIZE + 20):
                np.testing.assert_array_equal(f(np.ones(n)), np.ones(n))
        assert f._cache_size() == DEFAULT_CACHE_SIZE
        f(np.ones(DEFAULT_CACHE_SIZE + 19))
        assert len(traces) == DEFAULT_CACHE_SIZE + 19

    def test_unbounded_and_invalid_sizes(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fgrad.RetraceWarning)
            f, _ = counting(cache_size=None)
            for n in range(1, 80):
                f(np.ones(n))
        assert f._cache_size() == 79
        for bad in (0, -1, 2.5):
            with pytest.raises(fgrad.TransformError, match="cache_size must be a positive int"):
                jit(lambda x: x, cache_size=bad)

    def test_transformed_programs_share_the_bound(self):
        f = jit(lambda x: fnp.sin(x).sum(), cache_size=2)
        for n in (1, 2, 3):
            grad(f)(np.ones(n))
            f(np.ones(n))
        assert f._cache_size() == 2
        np.testing.assert_allclose(grad(f)(np.zeros(3)), np.ones(3))

    def test_threads_share_a_small_cache(self):
        from concurrent.futures import ThreadPoolExecutor

        f = jit(lambda x: fnp.tanh(x) * 2.0, cache_size=2)

        def work(seed):
            rng = np.random.default_rng(seed)
            for _ in range(30):
                x = rng.normal(size=int(rng.integers(1, 6)))
                np.testing.assert_allclose(f(x), np.tanh(x) * 2.0, rtol=1e-15)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fgrad.RetraceWarning)
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(work, range(8)))
        assert f._cache_size() == 2

    def warn_text(self, calls) -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            calls()
        return [str(w.message) for w in caught if w.category is fgrad.RetraceWarning]

    def test_warns_once_naming_the_argument_and_shapes(self):
        def loss(params, x):
            return (x @ params["w"]).sum() + params["b"].sum()

        f = jit(loss)
        p = {"w": np.ones((3, 2)), "b": np.zeros(2)}

        def calls():
            for n in range(1, 3 * RETRACE_WARNING_AFTER):
                f(p, np.ones((n, 3)))

        (message,) = self.warn_text(calls)
        assert f"`loss` has been traced and compiled {RETRACE_WARNING_AFTER} times" in message
        n = RETRACE_WARNING_AFTER
        assert f"argument `x`: f64[{n - 1},3] became f64[{n},3]" in message
        assert "cache_size" in message

    def test_names_a_leaf_inside_a_pytree_and_a_dtype(self):
        f = jit(lambda params, x: params["w"].sum() * x)

        def calls():
            for n in range(RETRACE_WARNING_AFTER - 1):
                f({"w": np.ones(n + 1)}, 1.0)
            f({"w": np.ones(RETRACE_WARNING_AFTER - 1, np.float32)}, 1.0)

        (message,) = self.warn_text(calls)
        n = RETRACE_WARNING_AFTER - 1
        assert f"argument `params['w']`: f64[{n}] became f32[{n}]" in message

    def test_names_a_static_value_and_its_type(self):
        f = jit(lambda x, n: x * n, static_argnames="n")

        def calls():
            for k in range(RETRACE_WARNING_AFTER - 1):
                f(1.0, n=k + 1)
            f(1.0, n=float(RETRACE_WARNING_AFTER - 1))

        (message,) = self.warn_text(calls)
        n = RETRACE_WARNING_AFTER - 1
        assert f"static argument `n`: {n} (int) became {float(n)} (float)" in message

    def test_names_a_new_structure_and_a_transform(self):
        f = jit(lambda *xs: sum(fnp.sum(x) for x in xs))

        def calls():
            for k in range(1, RETRACE_WARNING_AFTER):
                f(*[np.ones(2)] * k)
            grad(f)(np.ones(2))

        (message,) = self.warn_text(calls)
        assert "a call under grad/vjp (the previous one was no transform)" in message
        g = jit(lambda *xs: sum(fnp.sum(x) for x in xs))

        def more():
            for k in range(1, RETRACE_WARNING_AFTER + 1):
                g(*[np.ones(2)] * k)

        (message,) = self.warn_text(more)
        assert "a new argument structure" in message

    def test_names_a_new_batch_size(self):
        f = jit(lambda x: fnp.sin(x))

        def calls():
            for n in range(1, RETRACE_WARNING_AFTER + 1):
                vmap(f)(np.ones((n, 2)))

        (message,) = self.warn_text(calls)
        n = RETRACE_WARNING_AFTER
        assert (
            f"under vmap, (batch axes, batch size, axis name): ((0,), {n - 1}, None) became "
            f"((0,), {n}, None)"
        ) in message
        assert f"argument `x`: f64[{n - 1},2] became f64[{n},2]" in message
