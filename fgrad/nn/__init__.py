"""``fgrad.nn``: activations, losses, initialisers and a small MLP, as pure functions.

Everything is written with ``fgrad.numpy``, so it runs on NumPy arrays and is
differentiated by every fgrad transform. Activations and losses are stable at
any input (no overflow, no NaN, exact gradients at +-1000) and keep float32 in
float32. See ``docs/nn.md``::

    params = fgrad.nn.mlp_init(np.random.default_rng(0), [4, 16, 3])

    def loss(params, x, y):
        logits = fgrad.nn.mlp_apply(params, x, activation=fgrad.nn.relu)
        return fgrad.nn.softmax_cross_entropy(logits, y)

    grads = fgrad.grad(loss)(params, x, y)
"""

from __future__ import annotations

from fgrad.core import missing_names as _missing_names
from fgrad.core.source_info import public_api as _public_api
from fgrad.nn import initializers, piecewise_activations
from fgrad.nn.activations import (
    gelu,
    log_sigmoid,
    log_softmax,
    logsumexp,
    one_hot,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
)
from fgrad.nn.attention import dot_product_attention
from fgrad.nn.generator_init import glorot_uniform, he_normal, zeros
from fgrad.nn.losses import (
    hinge,
    l2_penalty,
    mean_squared_error,
    sigmoid_binary_cross_entropy,
    softmax_cross_entropy,
)
from fgrad.nn.mlp import mlp_apply, mlp_init
from fgrad.nn.piecewise_activations import (
    celu,
    elu,
    glu,
    hard_sigmoid,
    hard_silu,
    hard_swish,
    hard_tanh,
    identity,
    leaky_relu,
    log1mexp,
    logmeanexp,
    mish,
    relu6,
    selu,
    soft_sign,
    sparse_plus,
    sparse_sigmoid,
    squareplus,
    standardize,
    swish,
    tanh,
)
from fgrad.nn.pooling import avg_pool, max_pool

__all__ = [
    "dot_product_attention",
    "avg_pool",
    *piecewise_activations.__all__,
    "max_pool",
    "gelu",
    "glorot_uniform",
    "he_normal",
    "hinge",
    "initializers",
    "l2_penalty",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "mean_squared_error",
    "mlp_apply",
    "mlp_init",
    "one_hot",
    "relu",
    "sigmoid",
    "sigmoid_binary_cross_entropy",
    "silu",
    "softmax",
    "softmax_cross_entropy",
    "softplus",
    "zeros",
]


def __getattr__(name: str):
    raise _missing_names.missing("fgrad.nn", name, _missing_names.NN)

_public_api(globals(), __all__)  # errors from eager calls start at the user's line
