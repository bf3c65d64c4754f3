from autograd._delegate import forward_to
from autograd.numpy import fft, linalg, random  # noqa: F401

__getattr__ = forward_to("fgrad.numpy")
