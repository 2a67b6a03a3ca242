"""The ledger on SQLite (aiosqlite, WAL, fsync on commit): the store, group commit, its write
steps on the connection's thread, set-based batches, and a consistent backup while it runs."""
