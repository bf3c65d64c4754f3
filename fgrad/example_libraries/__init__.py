"""``fgrad.example_libraries``: JAX's small example libraries under their JAX names, so
that programs written against ``jax.example_libraries`` run after renaming ``jax`` to
``fgrad``.

* :mod:`fgrad.example_libraries.optimizers`: the ``(init, update, get_params)`` triples
  (``sgd``, ``momentum``, ``adam``, ...) and their step-size schedules;
* :mod:`fgrad.example_libraries.stax`: layers as ``(init_fun, apply_fun)`` pairs
  combined with ``serial``/``parallel``.

New code is better served by :mod:`fgrad.optim` (optax's style) and :mod:`fgrad.nn`.
"""
