"""Hawkeye: model collaboration for efficient reasoning (COLM'25), reproducibly."""

__version__ = "0.1.0"
