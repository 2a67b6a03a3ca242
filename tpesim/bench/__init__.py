"""``tpesim bench``: the crypto, ledger, switch, fleet, load, reconnect and flood benchmarks, each
reporting CPU per request beside its rate (docs/performance.md)."""
