"""``jax._src.lib.mlir.dialects``: only ``hlo``, which lowering rules import."""
