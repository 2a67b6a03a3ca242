"""The switch's rules: authorization and its decline order, the kinds of request, what a card
may do abroad, refunds bounded by their sale, batch reconciliation, the per-terminal rate
limit, and the issuers' availability. Pure, but for ``refunds.refund_original``, which reads
what the ledger says of a refund's sale."""
