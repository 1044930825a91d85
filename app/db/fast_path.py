"""The fast path: the few statements measured hot, compiled once and run on the driver's
cursor, through SQLAlchemy's public API.

Which statements, and why: every other statement goes through the ORM or
``Connection.execute``; these run on every request of the two operations the service is
measured by, and SQLAlchemy's own execution of them (the compiled-cache lookup, the
execution context, and the result's description built again from the cursor on every run
of ``exec_driver_sql``) cost more than the database's work for them: on ``exec_driver_sql``
an order read took about 0.35 ms more CPU (+40%) and placing 0.5 ms more
(tests/benchmarks/cpu_per_request.py, docs/performance.md):

- **reading an order** (``GET /api/v3/order/<id>``, the order page): the order loader's
  statements (``app.orders.read_statements``), the API key check (``app.api.auth``: read
  alone, in no transaction) and the PHI access-log row the read writes
  (``app.history.patient_access``);
- **placing an order**: the order's, its lines' and its first event's inserts
  (``app.orders.service``, ``app.orders.events``), the stock moves and balances it changes
  (``app.inventory.ledger``, ``reservations``, ``locations``) and the status counters
  (``app.orders.status_counters``) and the dashboard's daily counts
  (``app.orders.daily_counts``, ``app.inventory.usage``). On PostgreSQL the order, its
  first event and the event's outbox entry are one statement, and so are the two counters
  (INSERTs inside WITH, which SQLite does not have): placing there is three statements
  fewer, each a round trip to the server.

Only public APIs (SQLAlchemy's "Working with Driver SQL and Raw DBAPI Connections"): the
statement is compiled once per dialect (``ClauseElement.compile``); its parameters get
their types' bind processing (``TypeEngine.dialect_impl(dialect).bind_processor``) and its
rows their result processing (``result_processor``), so that ``rows`` answers what
``Connection.execute`` answers (tests/test_direct_statements.py compares them). It runs on
a cursor of ``Connection.connection`` (the pool's connection), and keeps what SQLAlchemy's
execution gives: the connection begins its transaction first, as it would itself (so
SQLite's ``BEGIN`` comes from ``app.db.sqlite``'s ``begin`` listener); the engine's
``before_cursor_execute`` and ``after_cursor_execute`` listeners (``Connection.dispatch``)
see each statement, so the tests' statement counts and injected failures cover it; the
driver's errors are raised as SQLAlchemy's (``DBAPIError.instance``, with the engine's
``hide_parameters``), and a lost connection is invalidated (``Dialect.is_disconnect``,
``Connection.invalidate``). What it does not do: the engine's ``echo`` logging and
``handle_error`` listeners (Orderly uses neither). Rows are plain tuples, read by position.

What needs SQLAlchemy's execution context is refused when the statement is first compiled
(``TypeError``): Python-side column defaults (give every value), lists expanded into ``IN``
(use ``app.db.types.id_among``).
"""

from __future__ import annotations

import operator

from sqlalchemy import bindparam, insert
from sqlalchemy.exc import DBAPIError


class DirectStatement:
    """A Core statement compiled once per dialect and run on the driver's cursor."""

    def __init__(self, statement):
        self.statement = statement
        # By dialect (one per engine: a few in a process).
        self.compiled: dict = {}

    def compiled_for(self, dialect) -> CompiledStatement:
        found = self.compiled.get(dialect)
        if found is None:
            found = self.compiled[dialect] = CompiledStatement(self.statement, dialect)
        return found

    def rows(self, connection, parameters: dict | None = None, alone: bool = False) -> list[tuple]:
        """Its rows. ``alone``: a statement that reads by itself, in no transaction of
        SQLAlchemy's (see ``on_cursor``)."""
        compiled = self.compiled_for(connection.dialect)
        values = compiled.parameters(parameters or {})
        cursor = on_cursor(connection, compiled.sql, values, alone=alone)
        try:
            found = cursor.fetchall()
        except BaseException as error:
            failed(connection, error, compiled.sql, values, cursor)
        cursor.close()
        return compiled.processed(found)

    def first(self, connection, parameters: dict | None = None, alone: bool = False):
        found = self.rows(connection, parameters, alone)
        return found[0] if found else None

    def scalar(self, connection, parameters: dict | None = None):
        found = self.first(connection, parameters)
        return None if found is None else found[0]

    def run(self, connection, parameters: dict | None = None, alone: bool = False) -> int:
        """Runs a statement that answers no rows; answers how many rows it changed.
        ``alone`` as for ``rows``."""
        compiled = self.compiled_for(connection.dialect)
        cursor = on_cursor(
            connection, compiled.sql, compiled.parameters(parameters or {}), alone=alone
        )
        changed = cursor.rowcount
        cursor.close()
        return changed

    def run_many(self, connection, parameters: list[dict]) -> None:
        """Runs it once for each set of parameters (the driver's ``executemany``; one set is
        run as such)."""
        if len(parameters) == 1:
            self.run(connection, parameters[0])
            return
        compiled = self.compiled_for(connection.dialect)
        values = [compiled.parameters(p) for p in parameters]
        on_cursor(connection, compiled.sql, values, many=True).close()


def on_cursor(connection, sql: str, parameters, many: bool = False, alone: bool = False):
    """Runs the statement on a cursor of the connection's driver connection, and answers the
    cursor. As SQLAlchemy's own execution does: the connection begins its transaction first
    if it has none (SQLite's ``BEGIN`` comes from the ``begin`` listener), unless ``alone``
    (then SQLite runs it as its own transaction, and PostgreSQL's driver begins one that
    the pool rolls back when the connection goes back); the engine's and the connection's
    ``before_cursor_execute`` and ``after_cursor_execute`` listeners see it, and may change
    it or stop it (``retval``); errors are raised as ``failed`` says."""
    if not (alone or connection.in_transaction()):
        connection.begin()
    events, cursor = connection.dispatch, None
    try:
        cursor = connection.connection.cursor()
        # Asked whether there are any first: an empty collection is cheaper to test than to
        # go through (the app itself listens to neither; the tests do).
        before = events.before_cursor_execute
        if before:
            for listener in before:
                sql, parameters = listener(connection, cursor, sql, parameters, None, many)
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        after = events.after_cursor_execute
        if after:
            for listener in after:
                listener(connection, cursor, sql, parameters, None, many)
    except BaseException as error:
        failed(connection, error, sql, parameters, cursor)
    return cursor


def failed(connection, error: BaseException, sql: str, parameters, cursor):
    """Raises what SQLAlchemy's execution raises for an error on the cursor: the driver's
    errors wrapped in SQLAlchemy's (``IntegrityError``...; ``DBAPIError.instance``, with the
    engine's ``hide_parameters``); a lost connection (``Dialect.is_disconnect``), or one
    left in an unknown state by an interruption (``KeyboardInterrupt``, a worker's timeout),
    invalidated, so that the pool does not hand it out again; any other error (a listener's,
    a value the driver refuses with ``OverflowError``) as it is."""
    dialect = connection.dialect
    driver_error = isinstance(error, dialect.loaded_dbapi.Error)
    interrupted = not isinstance(error, Exception)
    lost = interrupted or (
        driver_error
        and not connection.invalidated
        and dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
    )
    if cursor is not None:
        try:
            cursor.close()
        except Exception:  # noqa: S110 - the cursor of a lost connection: the error is raised
            pass
    if lost:
        connection.invalidate(error)
    elif not connection.in_transaction():
        # A statement run alone: PostgreSQL's driver transaction is ended, as SQLAlchemy
        # rolls back a failed statement run outside its transaction.
        connection.connection.rollback()
    if driver_error:
        raise DBAPIError.instance(
            sql,
            parameters,
            error,
            dialect.loaded_dbapi.Error,
            hide_parameters=connection.engine.hide_parameters,
            connection_invalidated=lost,
            dialect=dialect,
            ismulti=isinstance(parameters, list),
        ) from error
    raise error


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
        # A positional driver's parameters (SQLite's): picked in the statement's order.
        order = tuple(compiled.positiontup) if compiled.positional else ()
        self.pick = operator.itemgetter(*order) if len(order) > 1 else None
        self.order = order if compiled.positional else None
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
        if self.order is None:
            return values
        if self.pick is not None:
            return self.pick(values)
        return tuple(values[name] for name in self.order)

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
