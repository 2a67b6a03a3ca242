"""The simulated HSM: keys (``keys``) and the operations that use them (``hsm``)."""

from switch.security.hsm import ArqcCheck, CvvCheck, PinCheck, SecurityModule
from switch.security.keys import Bdk, IssuerKeys, KeyStore, KeyStoreError, load_keys

__all__ = [
    "ArqcCheck",
    "Bdk",
    "CvvCheck",
    "IssuerKeys",
    "KeyStore",
    "KeyStoreError",
    "PinCheck",
    "SecurityModule",
    "load_keys",
]
