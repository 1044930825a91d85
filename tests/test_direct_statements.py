"""``fast_path.DirectStatement``: statements compiled once and run on the driver's cursor
answer what SQLAlchemy's own execution answers, keep its errors, its disconnect handling
and its listeners, and refuse what they cannot do."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, event, func, literal_column, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.db.fast_path import DirectStatement, direct_insert
from app.extensions import db
from app.inventory.ledger import _lock_balances_statement
from app.orders import read_statements
from app.orders.models import Order, OrderItem
from app.people.models import Patient, Site
from tests.conftest import app_context

# Statements that the demo data and generated orders give rows for: each must be compared
# on real rows, not on an empty answer.
MUST_HAVE_ROWS = {
    "orders",
    "external_ids",
    "items",
    "kits",
    "events",
    "tracking_numbers",
    "notes",
    "devices",
    "packed_kits",
}


@pytest.fixture
def orders(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    generated = runner.invoke(args=["generate-orders", "300", "--seed", "3"])
    assert generated.exit_code == 0, generated.output
    with app_context(app) as session:
        return session.scalars(select(Order.id).order_by(Order.id)).all()


def test_every_loader_statement_answers_what_sqlalchemy_answers(app, orders):
    with app_context(app) as session:
        connection = session.connection()
        postgres = connection.dialect.name == "postgresql"
        every_id = {
            "orders": orders,
            Patient: session.scalars(select(Patient.id)).all(),
            Site: session.scalars(select(Site.id)).all(),
        }
        with_rows = set()
        for name, direct in read_statements.statements(postgres).items():
            ids = every_id.get(name, orders)
            if name in (read_statements.Item, read_statements.Kit):
                ids = list(range(1, 200))
            for chosen in (ids[:1], ids[:7], ids):
                ours = direct.rows(connection, {"ids": list(chosen)})
                theirs = [
                    tuple(row) for row in connection.execute(direct.statement, {"ids": chosen})
                ]
                assert ours == theirs, name
                if ours:
                    with_rows.add(name)
        assert MUST_HAVE_ROWS <= with_rows, MUST_HAVE_ROWS - with_rows
        # The values are the types' own: aware UTC timestamps, booleans, dates.
        row = read_statements.statements(postgres)["orders"].first(connection, {"ids": orders[:1]})
        created_at = row[read_statements.ORDER.index("created_at")]
        assert created_at.utcoffset() is not None and created_at.utcoffset().total_seconds() == 0
        assert row[read_statements.ORDER.index("email_label")] in (True, False)


def test_the_locked_balances_read_answers_what_sqlalchemy_answers(app, orders):
    with app_context(app) as session:
        connection = session.connection()
        direct = _lock_balances_statement(connection.dialect.name == "postgresql")
        parameters = {"location_id": 1, "ids": list(range(1, 100))}
        ours = direct.rows(connection, parameters)
        assert ours
        assert ours == [tuple(row) for row in connection.execute(direct.statement, parameters)]


def test_a_refused_write_raises_sqlalchemys_error_and_the_transaction_goes_on(app, orders):
    insert_line = direct_insert(OrderItem.__table__, ("id", "order_id", "item_id", "count"))
    with app_context(app) as session:
        line = session.scalars(select(OrderItem)).first()
        taken = {"id": line.id, "order_id": line.order_id, "item_id": line.item_id, "count": 1}
        connection = session.connection()
        with pytest.raises(IntegrityError) as refused:
            with connection.begin_nested():
                insert_line.run(connection, taken)
        # The engine hides parameters from errors and logs (patient data): so does this.
        assert "parameters hidden" in str(refused.value)
        # The transaction is usable after the savepoint's rollback.
        assert session.scalar(select(func.count(OrderItem.id))) > 0


def test_listeners_see_each_statement_and_can_stop_it(app, orders, count_queries):
    with app_context(app) as session:
        connection = session.connection()
        direct = read_statements.statements(_pg(connection))["external_ids"]
        with count_queries() as counter:
            direct.rows(connection, {"ids": orders[:3]})
        assert counter.statements == [direct.compiled_for(connection.dialect).sql]

        def refuse(conn, cursor, statement, parameters, context, executemany):
            raise RuntimeError("refused by a listener")

        event.listen(db.engine, "before_cursor_execute", refuse)
        try:
            with pytest.raises(RuntimeError):
                DirectStatement(select(Order.id).limit(1)).rows(connection)
        finally:
            event.remove(db.engine, "before_cursor_execute", refuse)


def _pg(connection) -> bool:
    return connection.dialect.name == "postgresql"


def test_what_needs_sqlalchemys_execution_is_refused(app):
    with app_context(app) as session:
        connection = session.connection()
        # An insert leaving out a column with a Python-side default (created_at, version).
        with pytest.raises(TypeError, match="defaults"):
            direct_insert(Order.__table__, ("current_status",)).run(
                connection, {"current_status": "created"}
            )
        # A list expanded into IN.
        with pytest.raises(TypeError, match="id_among"):
            DirectStatement(
                select(Order.id).where(Order.id.in_(bindparam("ids", expanding=True)))
            ).rows(connection, {"ids": [1]})
        # A parameter the statement needs and is not given (it would be NULL).
        with pytest.raises(TypeError, match="needs the parameter order_id"):
            DirectStatement(select(Order.id).where(Order.id == bindparam("order_id"))).rows(
                connection, {}
            )
        # A parameter the statement does not have (a value that would be silently dropped).
        with pytest.raises(TypeError, match="no parameter colour"):
            DirectStatement(select(Order.id).where(Order.id == bindparam("order_id"))).rows(
                connection, {"order_id": 1, "colour": "red"}
            )


def test_a_statement_read_alone_begins_no_transaction_and_a_refused_one_leaves_it_usable(
    app, orders
):
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    read = DirectStatement(select(Order.id).where(Order.id == bindparam("order_id")))
    refused = DirectStatement(select(literal_column("no_such_column")))
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            with db.engine.connect() as connection:
                assert read.first(connection, {"order_id": orders[0]}, alone=True)[0] == orders[0]
                assert not connection.in_transaction()
                with pytest.raises(DBAPIError) as error:
                    refused.first(connection, alone=True)
                assert not error.value.connection_invalidated
                # PostgreSQL's driver transaction that failed is ended: it reads on.
                assert read.first(connection, {"order_id": orders[1]}, alone=True)[0] == orders[1]
                assert not connection.in_transaction()
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
    assert not [s for s in statements if s.startswith("BEGIN")]


def test_a_lost_connection_is_invalidated_as_sqlalchemy_invalidates_it(app, orders):
    read = DirectStatement(select(Order.id).where(Order.id == bindparam("order_id")))
    with app.app_context(), db.engine.connect() as connection:
        connection.connection.dbapi_connection.close()
        with pytest.raises(DBAPIError) as error:
            read.rows(connection, {"order_id": orders[0]})
        assert error.value.connection_invalidated
        assert connection.invalidated
