"""scaling_cli: fit a Chinchilla-style loss surface to run logs and plan compute-optimal runs.

The package is a library first (``scaling_cli.read.runs``, ``.law``, ``.fit``, ``.resample``,
``.plan``) with a thin command-line edge (``scaling_cli.cli``). Importing it has no side
effects and does not import numpy, scipy or rich.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
