"""Module-level ``__getattr__`` factory: a shim module that forwards to an fgrad module."""

import importlib


def forward_to(module_name: str):
    def __getattr__(name):
        return getattr(importlib.import_module(module_name), name)

    return __getattr__
