"""``jax._src.lib``: only ``mlir.dialects.hlo``, which lowering rules import."""
