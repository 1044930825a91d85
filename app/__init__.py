"""Orderly: the order desk for clinical supply logistics."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask

from app import config, extensions
from app.extensions import csrf, htmx, login_manager

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    app.config.from_mapping(config.from_environment(instance))
    if test_config:
        app.config.update(test_config)
    app.json.sort_keys = False  # answer in the field order of the v3 API
    logging.basicConfig(level=app.config["LOG_LEVEL"])
    logging.getLogger("pyBarcode").setLevel(logging.WARNING)  # "Pillow not found": we draw SVG
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # "setup plugin" x7

    from app import models  # noqa: F401  (every table on the metadata)
    from app.db import (
        postgresql,  # noqa: F401  (its connections' settings)
        reading,
        sqlite,  # connection settings and the queue of writers
    )

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = sqlite.sqlite_engine_options(
            app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
        )
    # Named in full: ``app.db`` is the package of database plumbing (app/db/).
    extensions.db.init_app(app)
    reading.register(app)
    if not app.config["WEB_WORKER"]:
        # Migrations run from the command line (flask db ...), never in a web worker: gunicorn
        # workers leave Flask-Migrate and Alembic out (about 10 MB each; gunicorn.conf.py).
        from flask_migrate import Migrate

        Migrate(app, extensions.db, directory=str(ROOT / "migrations"), render_as_batch=True)
    from app import web

    # First of the hooks before a request: CSRF protection reads the form, and the guard
    # checks its raw body.
    web.register_input_guard(app)
    csrf.init_app(app)
    # Templates ask for current_user through its proxy, so the user is loaded only by a page
    # that shows who is signed in (not by the page shown while the database is away).
    login_manager.init_app(app, add_context_processor=False)
    htmx.init_app(app)

    _register_areas(app)
    return app


def _register_areas(app: Flask) -> None:
    """Each area's blueprints, CLI commands and hooks, and the pages every area shares."""
    from app import templating, web
    from app.admin import routes as admin_routes
    from app.api import bp as api_bp
    from app.api import throttle as api_throttle
    from app.auth import commands as auth_commands
    from app.auth import routes as auth_routes
    from app.catalog import routes as catalog_routes
    from app.dashboard import commands as dashboard_commands
    from app.dashboard import routes as dashboard_routes
    from app.demo import commands as demo_commands
    from app.history import commands as history_commands
    from app.history import patient_access
    from app.inventory import commands as inventory_commands
    from app.inventory import routes as inventory_routes
    from app.orders import commands as orders_commands
    from app.orders import web as orders_web
    from app.people import routes as people_routes
    from app.webhooks import commands as webhooks_commands
    from app.webhooks import routes as webhook_routes

    # Before any blueprint: every <int:...> in a route is then a bounded record id.
    app.url_map.converters["int"] = web.RecordIdConverter
    app.register_blueprint(api_bp)
    api_throttle.init_app(app)
    csrf.exempt(api_bp)  # the API authenticates by header, never by cookie
    app.register_blueprint(auth_routes.bp)
    app.register_blueprint(web.bp)
    app.register_blueprint(orders_web.bp)
    app.register_blueprint(people_routes.bp)
    app.register_blueprint(catalog_routes.bp)
    app.register_blueprint(admin_routes.bp)
    app.register_blueprint(inventory_routes.bp)
    app.register_blueprint(webhook_routes.bp)
    app.register_blueprint(dashboard_routes.bp)
    templating.register(app)
    web.register_error_pages(app)
    web.register_response_headers(app)
    app.session_interface = web.WebSessions()
    patient_access.register(app)
    history_commands.register(app)
    auth_commands.register(app)
    demo_commands.register(app)
    orders_commands.register(app)
    inventory_commands.register(app)
    webhooks_commands.register(app)
    dashboard_commands.register(app)
