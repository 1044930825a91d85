"""The database's plumbing, one room per job:

- ``types``: column types (UTC timestamps) and ids bound as one parameter;
- ``transactions``: ``write_transaction`` for every change, ``commit_separately`` for the
  few writes that must not wait for the request's own transaction;
- ``reading``: the request's own reading connection, for reads without the ORM session;
- ``sqlite`` and ``postgresql``: each database's connection settings, and SQLite's queue
  of writers;
- ``fast_path``: the statements measured hot, compiled once (the list is there).

The rule they serve: changes go through the ORM inside ``write_transaction``; pages and the
API read through read models; the fast path only for the statements ``fast_path`` lists.
"""
