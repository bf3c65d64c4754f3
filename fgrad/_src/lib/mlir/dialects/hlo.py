"""``jax._src.lib.mlir.dialects.hlo``, which the lowering rules of JAX programs import.

fgrad never calls a lowering (``fgrad.interpreters.mlir``: ``jit`` runs the impl), so
its operations are placeholders: naming one (``hlo.AddOp``) works, calling it raises.
"""

from __future__ import annotations


class _Placeholder:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        raise NotImplementedError(
            f"hlo.{self.name}: fgrad builds no XLA programs, so lowering rules never run; "
            "fgrad's jit runs the primitive's impl"
        )

    def __repr__(self) -> str:
        return f"<fgrad placeholder for hlo.{self.name}>"


def __getattr__(name: str) -> _Placeholder:
    if name.startswith("__"):
        raise AttributeError(name)
    return _Placeholder(name)
