"""Corral: a private-cloud toolkit (store, scheduler, signed offline updates)."""

__version__ = "0.1.0"
