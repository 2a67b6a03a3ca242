"""The switch's rules, pure: authorization and its decline order, what a card may do abroad,
refunds bounded by their sale, batch reconciliation, the per-terminal rate limit, and the
issuers' availability."""
