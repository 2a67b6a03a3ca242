"""The ledger on PostgreSQL (asyncpg): the same interface, rules and answers as on SQLite, with
its own group commit, write steps and invariant checker."""
