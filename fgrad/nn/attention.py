"""``dot_product_attention``: scaled dot-product attention with ``jax.nn``'s signature.

``softmax(q kᵀ · scale + bias, masked) v`` per batch and head, written with
``fgrad.numpy`` (two ``einsum`` contractions and a softmax), so every transform
differentiates and batches it. Layouts are JAX's: queries ``[B, T, N, H]``, keys and
values ``[B, S, K, H]`` (``K`` divides ``N``: grouped-query attention shares each key
head among ``N // K`` query heads), or the same without the batch axis.
"""

from __future__ import annotations

import numpy as np

import fgrad.numpy as fnp
from fgrad.nn.activations import softmax


def _mask_of(t: int, s: int, is_causal: bool, local_window_size, q_len, kv_len):
    """The combined boolean mask of the structured options, broadcastable to
    ``[B, N, T, S]``, or None when none is given."""
    rows, cols = np.arange(t)[:, None], np.arange(s)[None, :]
    mask = None
    if is_causal:
        mask = cols <= rows
    if local_window_size is not None:
        left, right = (
            (local_window_size, local_window_size)
            if isinstance(local_window_size, int)
            else local_window_size
        )
        window = (cols >= rows - left) & (cols <= rows + right)
        mask = window if mask is None else mask & window
    if q_len is not None or kv_len is not None:
        pad = None
        if q_len is not None:
            pad = fnp.arange(t)[None, :, None] < fnp.asarray(q_len)[:, None, None]
        if kv_len is not None:
            keep = fnp.arange(s)[None, None, :] < fnp.asarray(kv_len)[:, None, None]
            pad = keep if pad is None else fnp.logical_and(pad, keep)
        pad = pad[:, None]  # [B, 1, T, S]
        mask = pad if mask is None else fnp.logical_and(pad, mask)
    return mask


def dot_product_attention(
    query,
    key,
    value,
    bias=None,
    mask=None,
    *,
    scale: float | None = None,
    is_causal: bool = False,
    query_seq_lengths=None,
    key_value_seq_lengths=None,
    local_window_size: int | tuple[int, int] | None = None,
    implementation: str | None = None,
):
    """Scaled dot-product attention, as ``jax.nn.dot_product_attention``.

    Parameters
    ----------
    query
        ``[B, T, N, H]`` (or ``[T, N, H]``).
    key, value
        ``[B, S, K, H]`` (or ``[S, K, H]``); ``K`` divides ``N``.
    bias
        Added to the logits; broadcastable to ``[B, N, T, S]``.
    mask
        Boolean, broadcastable to ``[B, N, T, S]``: where false, the logit is replaced
        by a large negative number (a fully masked row attends uniformly, as in JAX).
    scale
        The logits' factor; default ``1 / sqrt(H)``.
    is_causal
        Query ``t`` attends keys ``s <= t`` only.
    query_seq_lengths, key_value_seq_lengths
        ``[B]`` integers: positions at or beyond them are masked.
    local_window_size
        ``w`` or ``(left, right)``: query ``t`` attends keys in ``[t - left, t + right]``.
    implementation
        ``None`` or ``"xla"`` (JAX's names); fgrad has one implementation.

    Returns
    -------
    array
        ``[B, T, N, H]`` (or ``[T, N, H]``), in the promoted dtype of the inputs (the
        logits and softmax in at least float32).
    """
    if implementation not in (None, "xla"):
        raise ValueError(
            f"dot_product_attention: implementation={implementation!r} is not available; "
            "fgrad has one implementation (None or 'xla')"
        )
    q, k, v = fnp.asarray(query), fnp.asarray(key), fnp.asarray(value)
    unbatched = q.ndim == 3
    if unbatched:
        q, k, v = q[None], k[None], v[None]
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4 or k.shape != v.shape:
        raise ValueError(
            "dot_product_attention: query must be [B, T, N, H] and key, value [B, S, K, H] "
            f"(all 4-d or all 3-d), got {query.shape}, {key.shape}, {value.shape}"
        )
    b, t, n, h = q.shape
    s, heads = k.shape[1], k.shape[2]
    if n % heads or k.shape[0] != b or k.shape[3] != h:
        raise ValueError(
            "dot_product_attention: key/value must have the query's batch and head size "
            f"and a number of heads dividing the query's ({n}); got query {q.shape}, "
            f"key {k.shape}"
        )
    out_dtype = fnp.result_type(q, k, v)
    logits_dtype = np.promote_types(out_dtype, np.float32)
    group = n // heads
    qg = fnp.reshape(q, (b, t, heads, group, h))
    logits = fnp.einsum("btkgh,bskh->bkgts", qg, k).astype(logits_dtype)
    logits = fnp.reshape(logits, (b, n, t, s))
    logits = logits * np.asarray(1.0 / np.sqrt(h) if scale is None else scale, logits_dtype)
    if bias is not None:
        bias = fnp.asarray(bias)
        logits = (logits + (bias[None] if unbatched and bias.ndim == 4 else bias)).astype(
            logits_dtype
        )
    combined = _mask_of(t, s, is_causal, local_window_size, query_seq_lengths,
                        key_value_seq_lengths)
    if mask is not None:
        mask = fnp.asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"dot_product_attention: mask must be boolean, got {mask.dtype}")
        combined = mask if combined is None else fnp.logical_and(mask, combined)
    if combined is not None:
        logits = fnp.where(combined, logits, np.asarray(-0.7 * np.finfo(logits_dtype).max,
                                                        logits_dtype))
    weights = softmax(logits, axis=-1).astype(out_dtype)
    weights = fnp.reshape(weights, (b, heads, group, t, s))
    out = fnp.einsum("bkgts,bskh->btkgh", weights, v)
    out = fnp.reshape(out, (b, t, n, h))
    if query_seq_lengths is not None:  # padded queries give zeros, as in JAX
        valid = fnp.arange(t)[None, :] < fnp.asarray(query_seq_lengths)[:, None]
        out = fnp.where(valid[:, :, None, None], out, fnp.zeros((), out.dtype))
    return out[0] if unbatched else out


__all__ = ["dot_product_attention"]
