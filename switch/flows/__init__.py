"""The switch's flows: each kind of message from arrival to answer and ledger (purchases and
pre-authorizations, wallet QR payments, stand-in, offline advices, reversals and completions,
batch close, settlement) and the issuer's back office."""
