"""TEMPORARY alias: ``linear_model.py`` (owned by the linreg branch) still imports
``permutation_into`` from here.  The integrator points that import at ``fastbatch._shuffle``
and deletes this file."""

from fastbatch._shuffle import permutation_into

__all__ = ["permutation_into"]
