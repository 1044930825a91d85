"""Auth's command-line commands (API keys and staff users), registered by the app factory."""

from __future__ import annotations

import click

from app.auth import service
from app.auth.actor import Actor
from app.auth.models import ROLES
from app.auth.scopes import ALL_SCOPES
from app.validation import Rejected


def _refused(rejected: Rejected) -> click.ClickException:
    """The same messages the web shows, one line each, and a non-zero exit."""
    return click.ClickException("; ".join(p.message for p in rejected.problems))


def register(app) -> None:
    @app.cli.group("api-key")
    def api_key_group():
        """Create and revoke API keys."""

    @api_key_group.command("create")
    @click.argument("name")
    @click.option(
        "--scope",
        "scopes",
        multiple=True,
        type=click.Choice(ALL_SCOPES),
        help="What the key may do; repeat it. Without any, the key gets every scope.",
    )
    def create_api_key(name: str, scopes: tuple[str, ...]):
        """Create an API key; the key is printed once and stored only as a hash."""
        try:
            api_key, plain = service.create_api_key(name, list(scopes or ALL_SCOPES), Actor())
        except Rejected as rejected:
            raise _refused(rejected) from None
        click.echo(f"API key “{name}” with scopes {api_key.scopes} (shown once, keep it safe):")
        click.echo(plain)

    @app.cli.group("user")
    def user_group():
        """Create staff users."""

    @user_group.command("create")
    @click.argument("email")
    @click.option("--role", type=click.Choice(ROLES), required=True)
    @click.option("--first-name", required=True)
    @click.option("--last-name", required=True)
    @click.option("--password", help="The password (else asked for, unseen, twice).")
    @click.option(
        "--password-stdin",
        is_flag=True,
        help="Read the password from the first line of standard input (piped, unprompted).",
    )
    def create_user(email, role, first_name, last_name, password, password_stdin):
        """Create a staff user who signs in with EMAIL."""
        if password_stdin:
            if password is not None:
                raise click.UsageError("Give --password or --password-stdin, not both.")
            password = click.get_text_stream("stdin").readline().rstrip("\r\n")
        elif password is None:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        draft = service.UserDraft(
            email=email, first_name=first_name, last_name=last_name, role=role
        )
        try:
            user = service.create_user(draft, password, Actor())
        except Rejected as rejected:
            raise _refused(rejected) from None
        click.echo(f"Created {user.role} {user.email}.")
