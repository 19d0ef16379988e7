"""Identity: login, logout, whoami, users and tokens."""

from __future__ import annotations

import os
import re
import sys

import click

from wasmgrid.cli.app import CliError, connection_options, run_async, session
from wasmgrid.cli.config import Profile
from wasmgrid.cli.output import when
from wasmgrid.client import DEFAULT_URL, Client, Token, User, WhoAmI

_DURATION = re.compile(r"^(\d+)([smhdw]?)$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ROLES = ["user", "publisher", "admin"]


def _show_identity(who: WhoAmI) -> None:
    out = session().out
    out.fields(
        [
            ("user", who.user.username),
            ("role", who.user.role),
            ("namespaces", ", ".join(who.namespaces)),
            ("token", f"{who.token.name or '(unnamed)'} {who.token.prefix}…"),
            ("scopes", ", ".join(who.token.scopes)),
            *(
                [("in effect", ", ".join(who.effective_scopes) or "none (the role holds none)")]
                if set(who.effective_scopes) != set(who.token.scopes)
                else []
            ),
            ("expires", when(who.token.expires_at) or "never"),
        ]
    )


def _read_token(given: str | None) -> str:
    if given:
        return given
    if not sys.stdin.isatty():
        line = sys.stdin.readline().strip()
        if not line:
            raise CliError("no token on standard input", 2)
        return line
    return str(click.prompt("API token (wgt_…)", hide_input=True)).strip()


@click.command()
@connection_options
def login() -> None:
    """Check a token with the gateway and save it in a profile.

    The token comes from --token or WASMGRID_TOKEN, else from standard input
    (`echo $TOKEN | wasmgrid login`), else a hidden prompt. It is saved, with the
    URL, only once `whoami` accepted it, in $XDG_CONFIG_HOME/wasmgrid/config.toml
    (mode 0600) under --profile (default: the default profile).
    """
    s = session()
    config = s.config
    # The profile may not exist yet (login creates it), and its saved token is not used.
    name = s.options.profile or os.environ.get("WASMGRID_PROFILE") or config.default_profile
    saved = config.profiles.get(name, Profile())
    url = (s.options.url or os.environ.get("WASMGRID_URL") or saved.url or DEFAULT_URL).rstrip("/")
    token = _read_token(s.options.token or os.environ.get("WASMGRID_TOKEN"))
    who = run_async(_whoami(url, token))
    config.profiles[name] = Profile(url=url, token=token)
    if len(config.profiles) == 1:
        config.default_profile = name
    config.save()
    if s.out.json_mode:
        s.out.json({"profile": name, "url": url, "config": str(config.path), "whoami": who})
        return
    s.out.text(f"Logged in to {url} as {who.user.username} ({who.user.role}).")
    s.out.note(f"saved as profile {name!r} in {config.path}")


async def _whoami(url: str, token: str) -> WhoAmI:
    async with Client(url, token=token) as wg:
        return await wg.whoami()


@click.command()
@connection_options
def logout() -> None:
    """Forget the token saved in a profile.

    The token itself stays valid; revoke it with `wasmgrid tokens revoke`.
    """
    s = session()
    config = s.config
    name = s.options.profile or config.default_profile
    profile = config.profiles.get(name)
    if profile is None or not profile.token:
        s.out.note(f"profile {name!r} holds no token; nothing to do")
        return
    profile.token = ""
    config.save()
    s.out.text(f"Logged out: profile {name!r} no longer holds a token.")


@click.command()
@connection_options
def whoami() -> None:
    """Show the user and token behind the credentials."""
    s = session()
    who = s.request(lambda wg: wg.whoami())
    if s.out.json_mode:
        s.out.json(who)
    else:
        _show_identity(who)


@click.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(_ROLES),
    help="what the user may do (default publisher; admin needs an admin token)",
)
@click.option("--token-name", metavar="NAME", help='label of the first token (default "initial")')
@connection_options
def users_create(username: str, role: str | None, token_name: str | None) -> None:
    """Create a user and its first token (the secret is shown once)."""
    s = session()
    created = s.request(lambda wg: wg.create_user(username, role=role, token_name=token_name))
    if s.out.json_mode:
        s.out.json(created)
        return
    s.out.text(f"Created user {created.user.username} ({created.user.role}).")
    s.out.text(f"Token (shown once): {created.secret}")
    s.out.note(f"use it with: wasmgrid login --url {s.target.url} --token <token>")


async def _all_users(wg: Client, role: str | None, limit: int) -> list[User]:
    """Up to `limit` users, following the pages."""
    found: list[User] = []
    cursor = ""
    while len(found) < limit:
        page = await wg.users(role=role, limit=min(1000, limit - len(found)), cursor=cursor)
        found += page.users
        cursor = page.next_cursor
        if not cursor:
            break
    return found


@users.command("list")
@click.option("--role", type=click.Choice(_ROLES), help="only users of this role")
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="at most this many users",
)
@connection_options
def users_list(role: str | None, limit: int) -> None:
    """List users by username (needs an admin token)."""
    s = session()
    found = s.request(lambda wg: _all_users(wg, role, limit))
    if s.out.json_mode:
        s.out.json(found)
        return
    s.out.table(
        ["USERNAME", "ROLE", "CREATED"],
        [[u.username, u.role, when(u.created_at)] for u in found],
        empty="no users",
    )


@users.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(_ROLES))
@click.option(
    "--issue-token",
    is_flag=True,
    help="also create a token for the user with every scope of ROLE (shown once)",
)
@connection_options
def users_set_role(username: str, role: str, issue_token: bool) -> None:
    """Give USERNAME the role ROLE (needs an admin token).

    The user's tokens keep their scopes but act within the new role from the next
    call: a demoted user loses what the role lacks at once. A promoted user's old
    tokens gain nothing; --issue-token creates one with the new role's scopes to hand
    over. The last admin, and the bootstrap admin, stay admins.
    """
    s = session()
    change = s.request(lambda wg: wg.set_role(username, role, issue_token=issue_token))
    if s.out.json_mode:
        s.out.json(change)
        return
    user = change.user
    if change.previous_role == user.role:
        s.out.text(f"{user.username} is already {user.role}; nothing changed.")
    else:
        s.out.text(f"{user.username}: {change.previous_role} → {user.role}.")
    if change.token is not None and change.secret:
        s.out.text(f"Token {change.token.id} ({', '.join(change.token.scopes)}).")
        s.out.text(f"Secret (shown once): {change.secret}")


@click.group()
def tokens() -> None:
    """Manage your API tokens."""


def _token_rows(items: tuple[Token, ...]) -> list[list[str]]:
    return [
        [
            t.id,
            t.name,
            f"{t.prefix}…",
            ",".join(t.scopes),
            when(t.created_at),
            when(t.last_used_at) or "never",
            "revoked" if t.revoked_at else (when(t.expires_at) or "never"),
        ]
        for t in items
    ]


@tokens.command("list")
@click.option("--all", "include_inactive", is_flag=True, help="also revoked and expired tokens")
@connection_options
def tokens_list(include_inactive: bool) -> None:
    """List your tokens, newest first (never their secrets)."""
    s = session()
    found = s.request(lambda wg: wg.tokens(include_inactive=include_inactive))
    if s.out.json_mode:
        s.out.json(found)
        return
    s.out.table(
        ["ID", "NAME", "PREFIX", "SCOPES", "CREATED", "LAST USED", "EXPIRES"],
        _token_rows(found),
        empty="no tokens",
    )


def _ttl(value: str | None) -> int:
    if not value:
        return 0
    m = _DURATION.match(value.strip())
    if not m:
        raise click.BadParameter(f"{value!r} is not a duration like 3600, 90m, 12h, 30d or 2w")
    return int(m.group(1)) * _SECONDS[m.group(2)]


@tokens.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(["publish", "yank", "rate", "admin"]),
    help="what the token allows (repeat for more)",
)
@click.option("--ttl", metavar="DURATION", help="lifetime: 3600, 90m, 12h, 30d, 2w (default never)")
@connection_options
def tokens_create(name: str, scopes: tuple[str, ...], ttl: str | None) -> None:
    """Create a token for yourself (the secret is shown once)."""
    s = session()
    seconds = _ttl(ttl)

    created = s.request(lambda wg: wg.create_token(name, scopes, ttl_seconds=seconds))
    if s.out.json_mode:
        s.out.json(created)
        return
    s.out.text(f"Created token {created.token.id} ({', '.join(created.token.scopes)}).")
    s.out.text(f"Secret (shown once): {created.secret}")


@tokens.command("revoke")
@click.argument("token_id", metavar="ID")
@connection_options
def tokens_revoke(token_id: str) -> None:
    """Revoke a token by id (see `wasmgrid tokens list`)."""
    s = session()
    revoked = s.request(lambda wg: wg.revoke_token(token_id))
    if s.out.json_mode:
        s.out.json(revoked)
    else:
        s.out.text(f"Revoked token {revoked.id} ({revoked.name or 'unnamed'}).")
