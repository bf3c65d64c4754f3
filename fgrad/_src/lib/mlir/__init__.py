"""``jax._src.lib.mlir``: only ``dialects.hlo``, which lowering rules import."""
