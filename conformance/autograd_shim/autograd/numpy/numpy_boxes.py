from fgrad.core.tracer import Tracer as ArrayBox  # noqa: F401
