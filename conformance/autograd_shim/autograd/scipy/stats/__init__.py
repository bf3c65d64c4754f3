from autograd._delegate import forward_to

__getattr__ = forward_to("fgrad.scipy.stats")
