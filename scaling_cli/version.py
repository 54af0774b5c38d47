"""The tool's version (one place; the package, the wheel and every document read it here)."""

__version__ = "0.2.0"
