"""SciPy functions that dispatch through the array API, run on fgrad's traced values.

With ``SCIPY_ARRAY_API=1`` (set before SciPy is imported, so in a subprocess here), SciPy
asks a traced argument for its namespace (``fgrad.numpy``) and computes with it. For each
function listed as working in docs/plain_numpy.md: the traced value (under ``jit`` and
``vmap``) equals plain SciPy's on ndarrays, and ``grad`` equals central finite differences
of plain SciPy in float64, eagerly and under ``jit``. Each function listed as not working
fails with the reason the docs give, so that a SciPy release that changes either list
fails here and the docs are updated.

Run as a script (with ``SCIPY_ARRAY_API=1``), this file prints the measurements as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

#: positive, distinct values (means of powers, logarithms, order statistics are smooth here)
X = np.array([0.7, 1.3, 0.4, 2.1, 1.0, 0.25])
#: weights that reduce a vector output to the scalar that is differentiated
W = np.array([0.5, -1.0, 0.3, 0.8, -0.2, 0.6, 0.1, -0.4, 0.9, 0.7, -0.3])

#: expressions of ``x`` that work under grad, jit and vmap
WORKING = [
    "scipy.special.softmax(x)",
    "scipy.special.softmax(x.reshape(2, 3), axis=1)",
    "scipy.special.xlogy(x, 2.5)",
    "scipy.stats.moment(x, order=3)",
    "scipy.stats.skew(x)",
    "scipy.stats.kurtosis(x)",
    "scipy.stats.sem(x)",
    "scipy.stats.gmean(x)",
    "scipy.stats.gstd(x)",
    "scipy.stats.tvar(x)",
    "scipy.stats.tstd(x)",
    "scipy.stats.tsem(x)",
    "scipy.stats.tmin(x)",
    "scipy.stats.tmax(x)",
    "scipy.stats.trim_mean(x, 0.2)",
    "scipy.stats.describe(x).variance",
    "scipy.stats.differential_entropy(x)",
    "scipy.stats.circmean(x)",
    "scipy.stats.circvar(x)",
    "scipy.stats.circstd(x)",
    "scipy.signal.fftconvolve(x, x**2)",
    "scipy.signal.oaconvolve(x, x**2)",
    "scipy.signal.resample(x[:5], 9)",
    "scipy.fft.fft(x)",
    "scipy.fft.rfft(x)",
]
#: expressions that work under grad (and jvp) but branch in Python on a traced value, so
#: jit and vmap raise ConcretizationError
GRAD_ONLY = ["scipy.stats.hmean(x)", "scipy.stats.pmean(x, 2.5)"]
#: expression -> the error it raises on a traced value (the reasons are in the docs)
FAILING = {
    "scipy.special.logsumexp(x)": "ImmutableArrayError",
    "scipy.special.log_softmax(x)": "ImmutableArrayError",
    "scipy.stats.zscore(x)": "ImmutableArrayError",
    "scipy.stats.gzscore(x)": "ImmutableArrayError",
    "scipy.stats.pearsonr(x, x**2).statistic": "ImmutableArrayError",
    "scipy.signal.hilbert(x)": "ImmutableArrayError",
    "scipy.signal.resample(x, 8)": "ImmutableArrayError",
    "scipy.cluster.vq.whiten(x.reshape(3, 2))": "ImmutableArrayError",
    "scipy.special.expit(x)": "TracerArrayConversionError",
    "scipy.special.erf(x)": "TracerArrayConversionError",
    "scipy.special.gammaln(x)": "TracerArrayConversionError",
    "scipy.special.entr(x)": "TracerArrayConversionError",
    "scipy.stats.entropy(x)": "TracerArrayConversionError",
    "scipy.stats.linregress(x, x**2).slope": "TracerArrayConversionError",
    "scipy.signal.convolve(x, x**2)": "TracerArrayConversionError",
    "scipy.signal.lfilter(x[:2], x[2:4], x)": "TracerArrayConversionError",
    "scipy.signal.detrend(x)": "TracerArrayConversionError",
    "scipy.signal.welch(x, nperseg=4)[1]": "TracerArrayConversionError",
    "scipy.ndimage.gaussian_filter(x, 1.0)": "TracerArrayConversionError",
    "scipy.ndimage.uniform_filter(x, 3)": "TracerArrayConversionError",
    "scipy.fft.dct(x)": "TracerArrayConversionError",
    "scipy.special.logsumexp(x, b=np.ones(6))": "TypeError",
    "scipy.special.rel_entr(x, 2.0)": "TypeError",
    "scipy.stats.variation(x)": "TypeError",
    "scipy.stats.tmean(x)": "TypeError",
    "scipy.stats.ttest_1samp(x, 0.0).statistic": "TypeError",
    "scipy.signal.convolve(x, np.array([0.5, -0.25]))": "TypeError",
}


def _scalar(expr: str):
    """``expr`` as a function of ``x``, reduced to a real scalar with the weights ``W``:
    itself plain NumPy code, so the reduction dispatches on traced values too."""
    import scipy.cluster.vq  # noqa: F401 - the expressions name these modules
    import scipy.fft
    import scipy.ndimage
    import scipy.signal
    import scipy.special
    import scipy.stats

    namespace = {"scipy": scipy, "np": np, "W": W}
    return eval(  # noqa: S307 - the expressions are this file's constants
        f"lambda x: np.sum(np.real(np.ravel({expr}) * W[:np.size({expr})]))"
        f" + np.sum(np.imag(np.ravel({expr})) * W[:np.size({expr})] ** 2)",
        namespace,
    )


def _fd_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        out[i] = (f(x + e) - f(x - e)) / (2 * h)
    return out


def measure() -> dict:
    """Every expression's values and derivatives, traced and plain (needs SCIPY_ARRAY_API=1)."""
    import fgrad

    assert os.environ.get("SCIPY_ARRAY_API") == "1"
    batch = np.stack([X, X[::-1], X * 1.1])
    results: dict = {}
    for expr in WORKING + GRAD_ONLY:
        f = _scalar(expr)
        r = {
            "plain": float(f(X)),
            "plain_batch": [float(f(row)) for row in batch],
            "fd": _fd_gradient(f, X).tolist(),
            "grad": np.asarray(fgrad.grad(f)(X)).tolist(),
        }
        if expr in WORKING:
            r["jit"] = float(fgrad.jit(f)(X))
            r["vmap"] = np.asarray(fgrad.vmap(f)(batch)).tolist()
            r["jit_grad"] = np.asarray(fgrad.jit(fgrad.grad(f))(X)).tolist()
        else:
            for name, transform in (("jit", fgrad.jit), ("vmap", fgrad.vmap)):
                try:
                    transform(f)(X if name == "jit" else batch)
                    r[name] = "ran"
                except Exception as err:  # noqa: BLE001 - the test checks which one
                    r[name] = type(err).__name__
        results[expr] = r
    for expr in FAILING:
        f = _scalar(expr)
        try:
            fgrad.grad(f)(X)
            results[expr] = "ran"
        except Exception as err:  # noqa: BLE001 - the test checks which one
            results[expr] = type(err).__name__
    return results


@pytest.fixture(scope="module")
def results() -> dict:
    pytest.importorskip("scipy")
    env = {**os.environ, "SCIPY_ARRAY_API": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve())],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("expr", WORKING)
def test_traced_values_equal_plain_scipy_and_gradients_equal_finite_differences(results, expr):
    r = results[expr]
    np.testing.assert_allclose(r["jit"], r["plain"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(r["vmap"], r["plain_batch"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(r["grad"], r["fd"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(r["jit_grad"], r["grad"], rtol=1e-10, atol=1e-12)
    assert np.any(np.abs(r["grad"]) > 1e-3)  # the derivative is not trivially zero


@pytest.mark.parametrize("expr", GRAD_ONLY)
def test_grad_only_functions_differentiate_but_refuse_jit_and_vmap(results, expr):
    r = results[expr]
    np.testing.assert_allclose(r["grad"], r["fd"], rtol=1e-6, atol=1e-7)
    assert r["jit"] == r["vmap"] == "ConcretizationError"


@pytest.mark.parametrize("expr", sorted(FAILING))
def test_functions_documented_as_not_working_fail_for_the_documented_reason(results, expr):
    assert results[expr] == FAILING[expr]


if __name__ == "__main__":
    print(json.dumps(measure()))
