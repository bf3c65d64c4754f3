"""The transforms: interpreters of traced programs, one layer above the primitives.

Reverse mode (``grad``, ``vjp``), forward mode (``jvp``), batching (``vmap``),
staging (``make_jaxpr``, ``jit`` and its code generator and optimiser),
``linearize``, the Jacobians, custom derivative rules and ``checkpoint``. They
build on the kernel (:mod:`fgrad.core`) and may use the primitives.
"""
