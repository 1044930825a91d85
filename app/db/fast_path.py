"""The fast path: the few statements measured hot, compiled once and run with
``Connection.exec_driver_sql``.

Which statements, and why: every other statement goes through the ORM or
``Connection.execute``; these run on every request of the two operations the service is
measured by, and SQLAlchemy's compiled-cache lookup and result set-up cost more than the
database's own work for them (tests/benchmarks/cpu_per_request.py, docs/performance.md):

- **reading an order** (``GET /api/v3/order/<id>``, the order page): the order loader's
  statements (``app.orders.read_statements``), the API key check (``app.api.auth``) and the
  PHI access-log row it writes (``app.history.patient_access``);
- **placing an order**: the order's, its lines' and its first event's inserts
  (``app.orders.service``, ``app.orders.events``), the stock moves and balances it changes
  (``app.inventory.ledger``, ``reservations``, ``locations``) and the status counters
  (``app.orders.status_counters``), and the dashboard's daily counts
  (``app.orders.daily_counts``, ``app.inventory.usage``);
- SQLite's ``BEGIN`` (``app.db.sqlite``), which every transaction runs.

Only public APIs: the statement is compiled once per dialect (``ClauseElement.compile``);
its parameters are checked and given their types' bind processing
(``TypeEngine.dialect_impl(dialect).bind_processor``), and its rows their types' result
processing (``result_processor``), so that ``rows`` answers what ``Connection.execute``
answers (tests/test_direct_statements.py compares them); it runs with
``Connection.exec_driver_sql``, so the engine's events, SQLAlchemy's exceptions, disconnect
handling and ``hide_parameters`` are SQLAlchemy's own. Rows are plain tuples, read by
position.

What needs SQLAlchemy's execution context is refused when the statement is first compiled
(``TypeError``): Python-side column defaults (give every value), lists expanded into ``IN``
(use ``app.db.types.id_among``).
"""

from __future__ import annotations

from sqlalchemy import bindparam, insert


class DirectStatement:
    """A Core statement compiled once per dialect and run with ``exec_driver_sql``."""

    def __init__(self, statement):
        self.statement = statement
        # By dialect (one per engine: a few in a process).
        self.compiled: dict = {}

    def compiled_for(self, dialect) -> CompiledStatement:
        found = self.compiled.get(dialect)
        if found is None:
            found = self.compiled[dialect] = CompiledStatement(self.statement, dialect)
        return found

    def _execute(self, connection, parameters: dict):
        compiled = self.compiled_for(connection.dialect)
        return compiled, connection.exec_driver_sql(compiled.sql, compiled.parameters(parameters))

    def rows(self, connection, parameters: dict | None = None) -> list[tuple]:
        compiled, result = self._execute(connection, parameters or {})
        return compiled.processed(result.fetchall())

    def first(self, connection, parameters: dict | None = None) -> tuple | None:
        found = self.rows(connection, parameters)
        return found[0] if found else None

    def scalar(self, connection, parameters: dict | None = None):
        found = self.first(connection, parameters)
        return None if found is None else found[0]

    def run(self, connection, parameters: dict | None = None) -> int:
        """Runs a statement that answers no rows; answers how many rows it changed."""
        _, result = self._execute(connection, parameters or {})
        changed = result.rowcount
        result.close()
        return changed

    def run_many(self, connection, parameters: list[dict]) -> None:
        """Runs it once for each set of parameters (the driver's ``executemany``; one set is
        run as such)."""
        if len(parameters) == 1:
            self.run(connection, parameters[0])
            return
        compiled = self.compiled_for(connection.dialect)
        connection.exec_driver_sql(compiled.sql, [compiled.parameters(p) for p in parameters])


class CompiledStatement:
    """What ``DirectStatement`` needs of a statement compiled for one dialect, worked out
    once."""

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise TypeError(
                "a DirectStatement cannot fill Python-side column defaults: give every value"
            )
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise TypeError("a DirectStatement cannot expand lists: use id_among")
        self.sql = compiled.string
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        # Every parameter's own value (None for those that have none: each must be given).
        self.defaults = {
            name: None if bind.required else bind.effective_value for name, bind in binds.items()
        }
        self.required = frozenset(name for name, bind in binds.items() if bind.required)
        self.bind = [
            (name, process)
            for name, bind in binds.items()
            if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]
        self.order = tuple(compiled.positiontup) if compiled.positional else None
        columns = getattr(statement, "exported_columns", ())
        self.results = [
            (at, process)
            for at, column in enumerate(columns)
            if (process := column.type.dialect_impl(dialect).result_processor(dialect, None))
            is not None
        ]

    def parameters(self, given: dict):
        """The driver's parameters for the given ones: a parameter the statement does not
        have, or one it needs and is not given, is an error (not a value left out, or NULL)."""
        if not given.keys() <= self.defaults.keys():
            unknown = ", ".join(sorted(given.keys() - self.defaults.keys()))
            raise TypeError(f"the statement has no parameter {unknown}")
        if not self.required <= given.keys():
            missing = ", ".join(sorted(self.required - given.keys()))
            raise TypeError(f"the statement needs the parameter {missing}")
        values = {**self.defaults, **given}
        for name, process in self.bind:
            values[name] = process(values[name])
        return values if self.order is None else tuple(values[name] for name in self.order)

    def processed(self, rows: list) -> list[tuple]:
        if not self.results:
            return [tuple(row) for row in rows]
        done = []
        for row in rows:
            row = list(row)
            for at, process in self.results:
                row[at] = process(row[at])
            done.append(tuple(row))
        return done


def direct_insert(table, names, returning=None) -> DirectStatement:
    """An INSERT of exactly these columns (each given by name when it runs), compiled once;
    ``returning`` a column, for ``scalar``."""
    statement = insert(table).values({name: bindparam(name) for name in names})
    return DirectStatement(statement if returning is None else statement.returning(returning))
