"""The fast path: the few statements measured hot, compiled once and run with less of
SQLAlchemy's execution around them (see ``DirectStatement``)."""

from __future__ import annotations

from sqlalchemy import bindparam, insert


class DirectStatement:
    """A Core statement run straight on the driver's cursor, compiled once per dialect.

    SQLAlchemy's execution of a small statement (compiled-cache lookup, execution context,
    result set-up) costs two to three times what the driver's own ``execute`` does: for the
    order loader's statements, 40-70 us where the cursor takes 13-28 (SQLite). The hot
    paths (reading and placing an order, the key check, the access log) run their statements
    this way; everything else goes through ``Connection.execute``.

    What is kept: the statement is built with the models' columns like any other; the
    types' bind and result processing (``rows`` answers the values ``Connection.execute``
    answers: tests/test_direct_statements.py compares them); the engine's
    ``before_cursor_execute`` listeners (statement counts, the tests' injected failures); and
    SQLAlchemy's exceptions, disconnect handling and ``hide_parameters``, through the
    connection's own error handler. Rows are plain tuples, read by position.

    What needs SQLAlchemy's execution context is refused when the statement is first
    compiled (``TypeError``): Python-side column defaults (give every value), lists expanded
    into ``IN`` (use ``id_among``)."""

    def __init__(self, statement):
        self.statement = statement
        # By dialect (one per engine: a few in a process).
        self._compiled: dict = {}

    def _for(self, dialect) -> _CompiledDirect:
        found = self._compiled.get(dialect)
        if found is None:
            found = self._compiled[dialect] = _CompiledDirect(self.statement, dialect)
        return found

    def _run(self, connection, parameters, many: bool = False):
        compiled = self._for(connection.dialect)
        if many:
            parameters = [compiled.parameters(p) for p in parameters]
        else:
            parameters = compiled.parameters(parameters)
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            listeners = connection.dispatch.before_cursor_execute
            if listeners:
                listeners(connection, cursor, compiled.sql, parameters, None, many)
            if many:
                cursor.executemany(compiled.sql, parameters)
            else:
                cursor.execute(compiled.sql, parameters)
        except BaseException as error:
            self._failed(connection, error, compiled, parameters, cursor)
        return compiled, cursor

    @staticmethod
    def _failed(connection, error, compiled, parameters, cursor):
        """The driver's errors (and interruptions) go through the connection's own handler,
        as SQLAlchemy's execution sends them: wrapped (``IntegrityError``...), parameters
        hidden, a lost connection invalidated. Others (a listener's, a value the driver
        refuses with ``OverflowError``) are raised as they are, as SQLAlchemy raises them."""
        if isinstance(error, connection.dialect.loaded_dbapi.Error) or not isinstance(
            error, Exception
        ):
            connection._handle_dbapi_exception(error, compiled.sql, parameters, cursor, None)
        cursor.close()
        raise error

    def rows(self, connection, parameters: dict | None = None) -> list[tuple]:
        compiled, cursor = self._run(connection, parameters or {})
        try:
            found = cursor.fetchall()
        except BaseException as error:
            self._failed(connection, error, compiled, parameters, cursor)
        cursor.close()
        return compiled.processed(found)

    def first(self, connection, parameters: dict | None = None) -> tuple | None:
        found = self.rows(connection, parameters)
        return found[0] if found else None

    def scalar(self, connection, parameters: dict | None = None):
        found = self.first(connection, parameters)
        return None if found is None else found[0]

    def run(self, connection, parameters: dict | None = None) -> int:
        """Runs a statement that answers no rows; answers how many rows it changed."""
        _, cursor = self._run(connection, parameters or {})
        changed = cursor.rowcount
        cursor.close()
        return changed

    def run_many(self, connection, parameters: list[dict]) -> None:
        """Runs it once for each set of parameters (``executemany``; one set is run as such)."""
        if len(parameters) == 1:
            self.run(connection, parameters[0])
            return
        _, cursor = self._run(connection, parameters, many=True)
        cursor.close()


class _CompiledDirect:
    """What ``DirectStatement`` needs of a compiled statement, worked out once."""

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise TypeError(
                "a DirectStatement cannot fill Python-side column defaults: give every value"
            )
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise TypeError("a DirectStatement cannot expand lists: use id_among")
        self.sql = compiled.string
        self.defaults = compiled.construct_params(_check=False)
        # The parameters that have no value of their own: each must be given.
        self.required = frozenset(
            name for bind, name in compiled.bind_names.items() if bind.required
        )
        self.bind = list(compiled._bind_processors.items())
        self.order = list(compiled.positiontup) if dialect.positional else None
        self.results = [
            (at, process)
            for at, column in enumerate(compiled._result_columns)
            if (process := column[3]._cached_result_processor(dialect, None)) is not None
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
        return values if self.order is None else [values[name] for name in self.order]

    def processed(self, rows: list) -> list[tuple]:
        if not self.results:
            return rows
        done = []
        for row in rows:
            row = list(row)
            for at, process in self.results:
                row[at] = process(row[at])
            done.append(tuple(row))
        return done


def direct_insert(table, names, returning=None) -> DirectStatement:
    """An INSERT of exactly these columns (each given by name when it runs), run on the
    driver's cursor; ``returning`` a column, for ``scalar``."""
    statement = insert(table).values({name: bindparam(name) for name in names})
    return DirectStatement(statement if returning is None else statement.returning(returning))
