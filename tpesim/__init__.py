"""tpesim: what a user runs. The command line (``cli``), the brokers it starts (``broker``), the
benchmarks (``bench``), scenarios (``scenario``), the merchant API (``api``), the dashboard
(``ui``), the demo, fleets and the devices' state.

``terminal/``, ``switch/``, ``wire/`` and ``cards/`` hold the simulator itself; this package,
the only one above both ends, wires them (docs/architecture.md).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
