"""tpesim: CLI, broker launcher, fleet orchestration and the demo.

``terminal/``, ``switch/`` and ``cards/`` hold the simulator itself; this package wires them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
