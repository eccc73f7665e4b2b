"""The foundation every layer shares, importing nothing of theirs.

The clock, the database engine and sessions, the ORM base and the shared tables, leases, the leader
lock, the normalised messages and the delivery port. Nothing here imports `bot` outside this package,
`coaching`, `programs` or `channels` (an import-linter contract in the test suite keeps it so).
"""
