"""Mutation testing for fgrad: plant realistic one-line bugs, check that the tests catch them.

Each mutant below replaces one source snippet by a plausible wrong version (a sign
flipped, a where-trap guard dropped, two corrections swapped, an axis off by one) and
names the test files (or ``-k`` selections) that ought to fail because of it. The
script copies the repository to a temporary directory, applies the mutant there (the
working tree is never touched), runs those tests with ``pytest -x -q`` under a timeout,
and reports each mutant as killed (a test failed or errored), survived, or broken (the
snippet was not found exactly once: the source moved and the mutant needs updating).

Mutants locate their code by the original snippet, searched across the whole
``fgrad/`` tree, never by path or line number, so they keep working while files move.

Usage (from the repository root)::

    python scripts/mutants.py --list              # the mutants, by layer
    python scripts/mutants.py --check             # every snippet found exactly once?
    python scripts/mutants.py -j 2                # run them all, two at a time
    python scripts/mutants.py --only adam_bias_swap --only tanh_vjp_sign
    python scripts/mutants.py --layer optim       # one layer
    python scripts/mutants.py --count -j 2        # no -x: how many tests kill each mutant

The summary ends with the kill rate; ``--json FILE`` writes the per-mutant results.
Mutants listed in ``EQUIVALENT`` change no observable result (see docs/testing.md) and
are reported apart, outside the score.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "fgrad"


@dataclass(frozen=True)
class Mutant:
    """One planted bug: ``original`` (unique in ``fgrad/``) becomes ``replacement``."""

    name: str
    layer: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    k: str | None = None  # a pytest -k expression narrowing ``tests``
    why: str = ""
    extra: tuple[str, ...] = field(default=())


PR = "tests/test_primitive_rules.py"
EDGE = "tests/test_edge_values.py"
COT = "tests/test_random_cotangents.py"
CONV = ("tests/test_conv.py", "tests/test_conv_composite.py", "tests/test_conv_fast_paths.py")
LOSS = "tests/test_loss_gradients.py"
JITV = "tests/test_jit_values.py"
ANCHOR = "tests/test_anchored_transforms.py"

MUTANTS: list[Mutant] = [
    # -- derivative rules of the elementwise primitives ----------------------------------
    Mutant("tanh_vjp_sign", "derivative rules",
           'defvjp(tanh_p, lambda g, ans, x: g * (1 - ans * ans), reads=("ans",))',
           'defvjp(tanh_p, lambda g, ans, x: g * (ans * ans - 1), reads=("ans",))',
           (PR, ANCHOR, COT), k="tanh or anchored or cotangent"),
    Mutant("tanh_jvp_sign", "derivative rules",
           "defjvp(tanh_p, lambda t, ans, x: t * (1 - ans * ans))",
           "defjvp(tanh_p, lambda t, ans, x: t * (ans * ans - 1))",
           (PR, ANCHOR), k="tanh or anchored"),
    Mutant("cos_vjp_sign", "derivative rules",
           'defvjp(cos_p, lambda g, ans, x: -(g * sin(x)), reads=("x",))',
           'defvjp(cos_p, lambda g, ans, x: g * sin(x), reads=("x",))',
           (PR,), k="cos"),
    Mutant("div_vjp_y_sign", "derivative rules",
           "lambda g, ans, x, y: unbroadcast(-g * ans / y, y.shape),",
           "lambda g, ans, x, y: unbroadcast(g * ans / y, y.shape),",
           (PR, COT), k="div or cotangent"),
    Mutant("log1p_vjp", "derivative rules",
           'defvjp(log1p_p, lambda g, ans, x: g / (1 + x), reads=("x",))',
           'defvjp(log1p_p, lambda g, ans, x: g / (1 - x), reads=("x",))',
           (PR,), k="log1p"),
    Mutant("sqrt_vjp_half", "derivative rules",
           'defvjp(sqrt_p, lambda g, ans, x: g / (ans * 2), reads=("ans",))',
           'defvjp(sqrt_p, lambda g, ans, x: g / ans, reads=("ans",))',
           (PR,), k="sqrt"),
    Mutant("pow_vjp_y_drops_ans", "derivative rules",
           "lambda g, ans, x, y: unbroadcast(g * ans * _log_or_zero(x), y.shape),",
           "lambda g, ans, x, y: unbroadcast(g * _log_or_zero(x), y.shape),",
           (PR,), k="pow"),
    Mutant("arctan2_vjp_swapped", "derivative rules",
           "lambda g, ans, y, x: unbroadcast(g * _arctan2_dy(y, x), y.shape),",
           "lambda g, ans, y, x: unbroadcast(g * _arctan2_dx(y, x), y.shape),",
           (PR,), k="arctan2"),
    Mutant("max_tie_not_shared", "derivative rules",
           "return wins + convert_element_type(bind(eq_p, x, y), like.dtype) * half",
           "return wins + convert_element_type(bind(eq_p, x, y), like.dtype)",
           (PR, EDGE), k="max or min or tie or edge"),
    Mutant("abs_vjp_at_zero", "derivative rules",
           "        return g * conj(_unit_phase(abs(x), x))\n    return g * sign(x)",
           "        return g * conj(_unit_phase(abs(x), x))\n    return g * sign(sign(x) + 0.5)",
           (PR, EDGE), k="abs or edge or kink"),
    Mutant("select_jvp_swapped", "derivative rules",
           "lambda t, ans, c, x, y: broadcast_like(select(c, t, 0), ans),",
           "lambda t, ans, c, x, y: broadcast_like(select(c, 0, t), ans),",
           (PR,), k="select"),
    Mutant("reduce_max_ties_not_shared", "derivative rules",
           "return hits.astype(dtype) / count.astype(dtype)",
           "return hits.astype(dtype)",
           (PR, EDGE, "tests/test_conv_kernels.py"), k="max or min or edge or tie"),
    Mutant("tie_weights_kernel_not_shared", "derivative rules",
           "out[a, j, c] = out[a, j, c] / count[c]",
           "out[a, j, c] = out[a, j, c]",
           ("tests/test_conv_kernels.py", "tests/test_conv_fast_paths.py")),
    Mutant("dot_general_lhs_axis_order", "derivative rules",
           "r_axes_in_x = list(xb) + x_free + [xc[yc.index(d)] for d in y_rest]",
           "r_axes_in_x = list(xb) + x_free + [xc[i] for i, d in enumerate(y_rest)]",
           (PR, "tests/test_numpy_products.py"), k="dot or einsum or tensordot or matmul"),
    # -- broadcasting and accumulation of cotangents -------------------------------------
    Mutant("unbroadcast_wrong_axis", "unbroadcast",
           "lead + i for i, d in enumerate(shape) if d == 1 and gshape[lead + i] != 1",
           "i for i, d in enumerate(shape) if d == 1 and gshape[lead + i] != 1",
           (PR, "tests/test_hypothesis_shapes.py"), k="add or mul or hypothesis or broadcast"),
    Mutant("backward_pass_overwrites", "reverse mode",
           "                    cts[j] = c if prev is None else prev + c\n            else:",
           "                    cts[j] = c\n            else:",
           ("tests/test_transforms.py", PR), k="not vmap"),
    Mutant("transpose_linear_overwrites", "transposition",
           "cts[i] = ct if i not in cts else cts[i] + ct",
           "cts[i] = ct",
           ("tests/test_transforms.py", "tests/test_small_apis.py", COT, ANCHOR)),
    # -- batch rules --------------------------------------------------------------------
    Mutant("reduction_batch_dim", "batch rules",
           "return out, d if keepdims else d - sum(a < d for a in axis)",
           "return out, d",
           (PR, "tests/test_vmap.py"), k="vmap or batch"),
    Mutant("arg_batch_axis", "batch rules",
           "return bind(prim, x, axis=axis + 1, keepdims=keepdims), 0",
           "return bind(prim, x, axis=axis, keepdims=keepdims), 0",
           (PR, "tests/test_vmap.py"), k="argmax or argmin or vmap"),
    Mutant("argsort_batch_axis", "batch rules",
           "return argsort(vals[0], past_batch((axis,), d)[0], kind), d",
           "return argsort(vals[0], axis, kind), d",
           (PR, "tests/test_vmap.py"), k="argsort or sort or vmap"),
    # -- where-trap guards and edge values -----------------------------------------------
    Mutant("pnorm_outer_where", "edge values",
           "return uf.where(positive, uf.where(positive, total, 1.0) ** (1.0 / ord), 0.0)",
           "return uf.where(positive, total, 1.0) ** (1.0 / ord)",
           ("tests/test_where_trap.py", "tests/test_linalg.py", EDGE)),
    Mutant("safe_sqrt_outer_where", "edge values",
           "return uf.where(positive, uf.sqrt(uf.where(positive, x, 1.0)), 0.0)",
           "return uf.sqrt(uf.where(positive, x, 1.0))",
           ("tests/test_where_trap.py", "tests/test_linalg.py", EDGE)),
    Mutant("std_outer_select", "edge values",
           "return numpy_scalar(ew.select(positive, sqrt(ew.select(positive, v, 1.0)), elsewhere))",
           "return numpy_scalar(sqrt(ew.select(positive, v, 1.0)))",
           ("tests/test_where_trap.py", "tests/test_numpy_shapes_reductions.py", EDGE)),
    Mutant("nanstd_all_nan", "edge values",
           "sqrt(where(positive, v, 1.0)), where(v == 0, 0.0, v)))",
           "sqrt(where(positive, v, 1.0)), 0.0))",
           ("tests/test_where_trap.py", "tests/test_numpy_misc.py", EDGE)),
    Mutant("logsumexp_empty_where", "edge values",
           "out = fnp.where(empty, -np.inf, fnp.log(fnp.where(empty, 1, total))) + m",
           "out = fnp.log(fnp.where(empty, 1, total)) + m",
           ("tests/test_where_trap.py", "tests/test_nn.py", "tests/test_scipy.py", EDGE)),
    Mutant("scipy_logsumexp_b_where", "edge values",
           "out = fnp.where(positive, fnp.log(fnp.where(positive, magnitude, 1.0)), -np.inf) + m",
           "out = fnp.log(fnp.where(positive, magnitude, 1.0)) + m",
           ("tests/test_scipy.py", "tests/test_where_trap.py", EDGE)),
    Mutant("relu_derivative_at_zero", "edge values",
           "return fnp.where(x <= 0, 0, x)",
           "return fnp.where(x < 0, 0, x)",
           ("tests/test_nn.py", "tests/test_where_trap.py", EDGE)),
    # -- activations and losses (fgrad.nn) -----------------------------------------------
    Mutant("sigmoid_branch_swap", "losses/activations",
           "return fnp.where(nonneg, 1, z) / (1 + z)",
           "return fnp.where(nonneg, z, 1) / (1 + z)",
           ("tests/test_nn.py", LOSS)),
    Mutant("gelu_cubic_term", "losses/activations",
           "inner = x + 0.044715 * (x * x * x)",
           "inner = x + 0.044715 * (x * x)",
           ("tests/test_nn.py", EDGE)),
    Mutant("xent_soft_label_where", "losses/activations",
           "return _reduce(-fnp.sum(labels * fnp.where(masked, 0, log_p), axis=-1), reduction)",
           "return _reduce(-fnp.sum(labels * log_p, axis=-1), reduction)",
           ("tests/test_nn.py", "tests/test_where_trap.py", LOSS, EDGE)),
    Mutant("log_softmax_max_not_stopped", "losses/activations",
           "m = fnp.max(fnp.stop_gradient(x), axis=axis, keepdims=True)",
           "m = fnp.max(x, axis=axis, keepdims=True)",
           ("tests/test_nn.py", LOSS, EDGE)),
    Mutant("hinge_zero_label", "losses/activations",
           "labels = fnp.where(labels == 0, -1, labels)",
           "labels = fnp.where(labels == 0, 1, labels)",
           ("tests/test_nn.py", LOSS)),
    Mutant("bce_sign", "losses/activations",
           "return _reduce((relu_x - logits * labels) + tail, reduction)",
           "return _reduce((relu_x + logits * labels) + tail, reduction)",
           ("tests/test_nn.py", LOSS)),
    Mutant("mse_mean_is_sum", "losses/activations",
           '    if reduction == "mean":\n        return fnp.mean(losses)',
           '    if reduction == "mean":\n'
           '        return fnp.sum(losses) / max(fnp.shape(losses)[0], 1)',
           ("tests/test_nn.py", LOSS)),
    Mutant("l2_penalty_half", "losses/activations",
           "    return 0.5 * total",
           "    return total",
           ("tests/test_nn.py", LOSS)),
    # -- optimisers (fgrad.optim) --------------------------------------------------------
    Mutant("adam_bias_swap", "optim",
           "m_hat, v_hat = m / scalar_like(c1, m), v / scalar_like(c2, v)",
           "m_hat, v_hat = m / scalar_like(c2, m), v / scalar_like(c1, v)",
           ("tests/test_optim.py", "tests/test_training.py", ANCHOR)),
    Mutant("adam_eps_inside_sqrt", "optim",
           "return m_hat / (fnp.sqrt(v_hat + eps_root) + eps)",
           "return m_hat / fnp.sqrt(v_hat + eps_root + eps)",
           ("tests/test_optim.py", ANCHOR)),
    Mutant("nesterov_old_trace", "optim",
           "updates = tree_map(lambda u, m: u + decay * m, updates, new_trace)",
           "updates = tree_map(lambda u, m: u + decay * m, updates, state.trace)",
           ("tests/test_optim.py", ANCHOR)),
    Mutant("rms_decay_swapped", "optim",
           "nu = tree_map(lambda u, v: decay * v + (1 - decay) * (u * u), updates, state.nu)",
           "nu = tree_map(lambda u, v: (1 - decay) * v + decay * (u * u), updates, state.nu)",
           ("tests/test_optim.py", ANCHOR)),
    Mutant("adagrad_forgets", "optim",
           "sum_of_squares = tree_map(lambda u, s: s + u * u, updates, state.sum_of_squares)",
           "sum_of_squares = tree_map(lambda u, s: u * u, updates, state.sum_of_squares)",
           ("tests/test_optim.py", ANCHOR)),
    Mutant("clip_global_norm_minimum", "optim",
           "factor = max_norm / fnp.maximum(global_norm(updates), max_norm)",
           "factor = max_norm / fnp.minimum(global_norm(updates), max_norm)",
           ("tests/test_optim.py", ANCHOR)),
    Mutant("weight_decay_sign", "optim",
           "return tree_map(lambda u, p: u + weight_decay * p, updates, params), state",
           "return tree_map(lambda u, p: u - weight_decay * p, updates, params), state",
           ("tests/test_optim.py", ANCHOR)),
    Mutant("cosine_schedule_sign", "optim",
           "return _value(end + (start - end) * 0.5 * (1 + fnp.cos(np.pi * t / steps)))",
           "return _value(end + (start - end) * 0.5 * (1 - fnp.cos(np.pi * t / steps)))",
           ("tests/test_optim.py",)),
    Mutant("staircase_ceil", "optim",
           "            p = fnp.floor(p)",
           "            p = fnp.ceil(p)",
           ("tests/test_optim.py",)),
    # -- control flow (fgrad.lax) --------------------------------------------------------
    Mutant("cond_batched_select_swapped", "control flow",
           "chosen = [where(taken, a, b) for a, b in zip(results[k], chosen)]",
           "chosen = [where(taken, b, a) for a, b in zip(results[k], chosen)]",
           ("tests/test_lax_cond.py", ANCHOR)),
    Mutant("cond_stop_gradient_swapped", "control flow",
           "where(taken, x, stop_gradient(x))",
           "where(taken, stop_gradient(x), x)",
           ("tests/test_lax_cond.py", ANCHOR)),
    Mutant("switch_clamp_off_by_one", "control flow",
           "index = clip(index, 0, len(branches) - 1)",
           "index = clip(index, 0, len(branches))",
           ("tests/test_lax_cond.py", "tests/test_lax.py")),
    Mutant("scan_reverse_ignored", "control flow",
           "return range(length - 1, -1, -1) if reverse else range(length)",
           "return range(length)",
           ("tests/test_lax_loops.py", "tests/test_loop_programs.py")),
    Mutant("fori_while_index", "control flow",
           "return i + 1, stop, _checked_step(body_fun, i, val)",
           "return i + 1, stop, _checked_step(body_fun, i + 1, val)",
           ("tests/test_lax_loops.py", "tests/test_loop_programs.py", ANCHOR)),
    # -- custom rules and checkpoint -----------------------------------------------------
    Mutant("custom_vjp_unit_cotangent", "custom rules",
           "cts_out = [cts[k] if k in cts else _zeros_like(o) for k, o in enumerate(out_flat)]",
           "cts_out = [_zeros_like(o) + 1 if k in cts else _zeros_like(o)"
           " for k, o in enumerate(out_flat)]",
           ("tests/test_transforms.py", "tests/test_joint_cotangents.py", COT)),
    Mutant("custom_jvp_transpose_first_ct", "custom rules",
           "return transpose_linear(lin, [cts.get(k) for k in range(len(out_flat))])",
           "return transpose_linear(lin, [cts.get(0) for k in range(len(out_flat))])",
           ("tests/test_transforms.py", "tests/test_joint_cotangents.py", COT)),
    Mutant("checkpoint_first_cotangent", "checkpoint",
           "list(pullback([cts[k] for k in reached]))",
           "list(pullback([cts[reached[0]] for k in reached]))",
           ("tests/test_small_apis.py", "tests/test_joint_cotangents.py", COT),
           k="checkpoint or remat or cotangent"),
    # -- jit: optimiser passes and code generation ---------------------------------------
    Mutant("cse_merges_literals", "jit optimize",
           '("lit", type(v).__name__, repr(v.val)) if type(v) is Literal else ("var", id(v))',
           '("lit", type(v).__name__) if type(v) is Literal else ("var", id(v))',
           ("tests/test_jit.py", JITV)),
    Mutant("cse_array_params_by_shape", "jit optimize",
           'return ("array", p.dtype.str, p.shape, p.tobytes())',
           'return ("array", p.dtype.str, p.shape)',
           ("tests/test_jit.py", JITV)),
    Mutant("noop_reshape_by_rank", "jit optimize",
           'return tuple(params["shape"]) == aval.shape',
           'return len(params["shape"]) == len(aval.shape)',
           ("tests/test_jit.py", JITV)),
    Mutant("noop_transpose_any", "jit optimize",
           'return tuple(params["permutation"]) == tuple(range(aval.ndim))',
           'return sorted(params["permutation"]) == list(range(aval.ndim))',
           ("tests/test_jit.py", JITV)),
    Mutant("noop_convert_by_kind", "jit optimize",
           'return np.dtype(params["new_dtype"]) == aval.dtype',
           'return np.dtype(params["new_dtype"]).kind == aval.dtype.kind',
           ("tests/test_jit.py", JITV)),
    Mutant("dce_drops_effects", "jit optimize",
           "if eqn.prim.effectful or any(v in live for v in eqn.outvars):",
           "if any(v in live for v in eqn.outvars):",
           ("tests/test_jit.py", "tests/test_debug.py", JITV)),
    Mutant("constant_folding_first_output", "jit optimize",
           "for v, result in zip(eqn.outvars, results if eqn.prim.multiple_results else"
           " [results]):",
           "for v, result in zip(eqn.outvars, [results[0]] * len(eqn.outvars)"
           " if eqn.prim.multiple_results else [results]):",
           ("tests/test_jit.py", JITV)),
    Mutant("codegen_single_multi_output", "codegen",
           'if eqn.prim.multiple_results and len(targets) == 1:\n                lhs += ","',
           'if eqn.prim.multiple_results and len(targets) == 0:\n                lhs += ","',
           ("tests/test_jit.py", JITV, "tests/test_linalg.py")),
    # -- conv and pooling ----------------------------------------------------------------
    Mutant("avg_pool_divisor", "conv/pooling",
           "return divide(total, x.dtype.type(np.prod(window)))",
           "return divide(total, x.dtype.type(np.sum(window)))",
           ("tests/test_conv.py", ANCHOR)),
    Mutant("max_pool_identity", "conv/pooling",
           'init = reduction_identity("max", x.dtype)',
           'init = x.dtype.type(0)',
           ("tests/test_conv.py", ANCHOR)),
    Mutant("conv_patches_feature_order", "conv/pooling",
           "order = (nsp + 1, *range(nsp + 1), *range(nsp + 3, 2 * nsp + 5), nsp + 2)",
           "order = (nsp + 1, *range(nsp + 1), nsp + 2, *range(nsp + 3, 2 * nsp + 5))",
           CONV, k="conv or values"),
    # -- random --------------------------------------------------------------------------
    Mutant("normal_radius", "random",
           "radius = fnp.sqrt(dtype.type(-2.0) * fnp.log1p(-u[0]))",
           "radius = fnp.sqrt(dtype.type(-1.0) * fnp.log1p(-u[0]))",
           ("tests/test_random.py", "tests/test_random_no_scipy.py")),
    Mutant("uniform_ignores_minval", "random",
           "return fnp.maximum(lo, lo + (hi - lo) * u)",
           "return fnp.maximum(lo, hi * u)",
           ("tests/test_random.py", "tests/test_random_no_scipy.py")),
    Mutant("threefry_rotation", "random",
           "_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))",
           "_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 25))",
           ("tests/test_random.py", "tests/test_random_no_scipy.py")),
    Mutant("gumbel_sign", "random",
           "return -fnp.log(-fnp.log(u))",
           "return fnp.log(-fnp.log(u))",
           ("tests/test_random.py", "tests/test_random_no_scipy.py")),
    # -- more transforms ----------------------------------------------------------------
    Mutant("vmap_out_axes_ignored", "transforms",
           'return move_axis(x.val, x.bdim, _normalise_axis(x.val, dst, "out_axes"))',
           "return move_axis(x.val, x.bdim, 0)",
           ("tests/test_vmap.py", ANCHOR)),
    Mutant("jacobian_block_order", "transforms",
           "return reshape(move_axis(columns, 0, len(out_shape)), out_shape + in_shape)",
           "return reshape(columns, out_shape + in_shape)",
           ("tests/test_transforms.py", "tests/test_higher_order.py", COT, ANCHOR)),
    Mutant("codegen_returns_input_uncopied", "codegen",
           "if where & outside or where & handed_out:",
           "if where & handed_out:",
           ("tests/test_jit.py", "tests/test_jit_trust.py", JITV)),
    Mutant("scan_const_cotangent_not_accumulated", "control flow",
           "return [*ct_carry_before, *[a + c for a, c in zip(acc, ct_consts)], *ct_xs]",
           "return [*ct_carry_before, *ct_consts, *ct_xs]",
           ("tests/test_lax_loops.py", "tests/test_loop_programs.py", COT)),
    Mutant("checkpoint_recomputes_on_old_values", "checkpoint",
           "outs = call(replace_at(vals, traced, xs))",
           "outs = call(vals)",
           ("tests/test_small_apis.py", "tests/test_joint_cotangents.py", COT),
           k="checkpoint or remat or cotangent"),
    Mutant("conv_group_kernel_order", "conv/pooling",
           "transpose(reshape(rhs, (k, i, groups, og)), (2, 0, 1, 3))",
           "transpose(reshape(rhs, (k, i, groups, og)), (2, 1, 0, 3))",
           CONV, k="conv or values"),
    Mutant("col2im_kernel_overwrites", "conv/pooling",
           "out[b, r, f] += g[b, m, k, f]",
           "out[b, r, f] = g[b, m, k, f]",
           ("tests/test_conv_fast_paths.py",), k="col2im or vjps"),
    Mutant("im2col_kernel_skips_fill", "conv/pooling",
           "out[b, r, k, f] = fill",
           "out[b, r, k, f] = 0",
           ("tests/test_conv_kernels.py",)),
    Mutant("momentum_is_ema", "optim",
           "new_trace = tree_map(lambda u, m: u + decay * m, updates, state.trace)",
           "new_trace = tree_map(lambda u, m: (1 - decay) * u + decay * m, updates, state.trace)",
           ("tests/test_optim.py", ANCHOR)),
    Mutant("linear_schedule_off_by_one", "optim",
           "return _value(init_value + (end_value - init_value) * (t / transition_steps))",
           "return _value(init_value + (end_value - init_value) * (t / (transition_steps + 1)))",
           ("tests/test_optim.py",)),
    Mutant("split_word_order", "random",
           "return fnp.reshape(fnp.stack([y0, y1], axis=-1), shape + (2,))",
           "return fnp.reshape(fnp.stack([y1, y0], axis=-1), shape + (2,))",
           ("tests/test_random.py", "tests/test_random_no_scipy.py")),
    # -- pytrees -------------------------------------------------------------------------
    Mutant("dict_insertion_order", "pytrees",
           "        keys = tuple(sorted(x))",
           "        keys = tuple(x)",
           ("tests/test_pytree.py", "tests/test_io_paths.py")),
]

#: mutants that change no observable result, with the reason (also in docs/testing.md)
EQUIVALENT = {
    "log_softmax_max_not_stopped": (
        "the shift m cancels in x - m - log(sum(exp(x - m))), so its derivative does too: "
        "stop_gradient there only saves work (and keeps ties of the max out of the tape)"
    ),
}


def _sources() -> list[Path]:
    return sorted(p for p in (ROOT / PACKAGE).rglob("*.py") if "__pycache__" not in p.parts)


def locate(m: Mutant) -> tuple[Path | None, str]:
    """The one file holding ``m.original`` exactly once, or None and why not."""
    hits = []
    for path in _sources():
        count = path.read_text().count(m.original)
        if count:
            hits.append((path, count))
    if not hits:
        return None, f"snippet not found anywhere under {PACKAGE}/"
    if len(hits) > 1:
        where = ", ".join(str(p.relative_to(ROOT)) for p, _ in hits)
        return None, f"snippet found in {len(hits)} files ({where}); make it unique"
    path, count = hits[0]
    if count > 1:
        return None, f"snippet found {count} times in {path.relative_to(ROOT)}; make it unique"
    return path, ""


def _copy_repo(dest: Path) -> None:
    ignore = shutil.ignore_patterns(
        ".git", "__pycache__", ".pytest_cache", ".hypothesis", ".venv*", "*.egg-info", ".ruff_cache"
    )
    for entry in ROOT.iterdir():
        if ignore(str(ROOT), [entry.name]):
            continue
        if entry.is_dir():
            shutil.copytree(entry, dest / entry.name, ignore=ignore)
        else:
            shutil.copy2(entry, dest / entry.name)


_COUNTS = re.compile(r"(\d+) (failed|passed|error|errors|skipped|deselected)")


def run_mutant(m: Mutant, timeout: float, stop_first: bool, python: str) -> dict:
    """Apply ``m`` to a temporary copy of the repository and run its tests there."""
    path, why = locate(m)
    result = {"name": m.name, "layer": m.layer, "tests": list(m.tests), "k": m.k}
    if path is None:
        return result | {"status": "broken", "detail": why}
    tests = [t for t in m.tests if (ROOT / t.split("::")[0]).exists()]
    missing = sorted(set(m.tests) - set(tests))
    if not tests:
        return result | {"status": "broken", "detail": f"no test file exists: {missing}"}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"fgrad-mutant-{m.name}-") as tmp:
        dest = Path(tmp)
        _copy_repo(dest)
        target = dest / path.relative_to(ROOT)
        target.write_text(target.read_text().replace(m.original, m.replacement, 1))
        cmd = [python, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:warnings",
               "-p", "no:cacheprovider",
               "--hypothesis-seed=0", *tests]
        if stop_first:
            cmd.insert(3, "-x")
        if m.k:
            cmd += ["-k", m.k]
        env = dict(os.environ, PYTHONPATH=str(dest), PYTHONDONTWRITEBYTECODE="1")
        try:
            proc = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return result | {"status": "killed", "detail": f"timeout after {timeout:.0f} s",
                             "failed": None, "passed": None,
                             "seconds": round(time.perf_counter() - start, 1)}
    summary = [line for line in proc.stdout.splitlines() if _COUNTS.search(line)]
    counts = {kind: int(n) for n, kind in _COUNTS.findall(summary[-1] if summary else "")}
    failed = counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0)
    if proc.returncode == 0:
        status = "survived"
    elif proc.returncode == 1 or failed:
        status = "killed"
    elif proc.returncode == 5:
        status = "broken"
    else:  # import errors, collection errors, interrupted runs: the mutant broke the package
        status = "killed"
    detail = "" if not missing else f"missing test files: {missing}"
    if proc.returncode == 5:
        detail = "no test selected"
    return result | {
        "status": status, "failed": failed, "passed": counts.get("passed", 0), "detail": detail,
        "seconds": round(time.perf_counter() - start, 1),
        "file": str(path.relative_to(ROOT)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--check", action="store_true",
                        help="check that every snippet is found exactly once, and exit")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only this mutant (repeatable)")
    parser.add_argument("--layer", action="append", default=[], help="run only this layer")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="mutants run in parallel")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant")
    parser.add_argument("--count", action="store_true",
                        help="run every selected test (no -x): how many tests kill each mutant")
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    args = parser.parse_args(argv)

    names = [m.name for m in MUTANTS]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        parser.error(f"duplicate mutant names: {sorted(dupes)}")
    unknown = set(args.only) - set(names)
    if unknown:
        parser.error(f"unknown mutants {sorted(unknown)}; see --list")
    chosen = [m for m in MUTANTS if (not args.only or m.name in args.only)
              and (not args.layer or m.layer in args.layer)]

    if args.list:
        for m in chosen:
            k = f" -k {m.k!r}" if m.k else ""
            eq = "  [equivalent]" if m.name in EQUIVALENT else ""
            print(f"{m.layer:18} {m.name:32} {' '.join(m.tests)}{k}{eq}")
        print(f"{len(chosen)} mutants")
        return 0
    if args.check:
        bad = [(m.name, why) for m in chosen for path, why in [locate(m)] if path is None]
        for name, why in bad:
            print(f"BROKEN {name}: {why}")
        print(f"{len(chosen) - len(bad)} of {len(chosen)} snippets found exactly once")
        return 1 if bad else 0

    start = time.perf_counter()
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(run_mutant, m, args.timeout, not args.count, sys.executable): m
                   for m in chosen}
        for fut in concurrent.futures.as_completed(futures):
            r = fut.result()
            results.append(r)
            tally = ("" if r.get("failed") is None
                     else f" ({r['failed']} failed, {r['passed']} passed)")
            eq = " [equivalent]" if r["name"] in EQUIVALENT else ""
            print(f"{r['status']:8} {r['name']:32}{tally} {r.get('seconds', '')}s "
                  f"{r.get('detail', '')}{eq}", flush=True)
    order = {n: i for i, n in enumerate(names)}
    results.sort(key=lambda r: order[r["name"]])
    scored = [r for r in results if r["name"] not in EQUIVALENT]
    killed = sum(r["status"] == "killed" for r in scored)
    survived = [r["name"] for r in scored if r["status"] == "survived"]
    broken = [r["name"] for r in results if r["status"] == "broken"]
    print(f"\n{killed} of {len(scored)} mutants killed ({100 * killed / max(len(scored), 1):.0f} %)"
          f", {len(EQUIVALENT.keys() & {r['name'] for r in results})} equivalent left out, "
          f"in {time.perf_counter() - start:.0f} s")
    if survived:
        print("survived: " + ", ".join(survived))
    if broken:
        print("broken (update the snippet or the tests): " + ", ".join(broken))
    if args.count:
        kills = [r["failed"] for r in scored if r["status"] == "killed" and r["failed"]]
        if kills:
            kills.sort()
            print(f"tests failing per killed mutant: min {kills[0]}, median "
                  f"{kills[len(kills) // 2]}, max {kills[-1]}; "
                  f"{sum(k <= 2 for k in kills)} killed by at most 2 tests")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0 if not survived and not broken else 1


if __name__ == "__main__":
    sys.exit(main())
