"""The `wasmgrid` command as a user runs it: a subprocess against the dev stack.

Each test gets its own config home, so profiles never leak between tests or into
the machine's; the environment's WASMGRID_* connection variables are removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from wasmgrid.common.testing import wait_until
from wasmgrid.marketplace.wasmbinary import with_custom_section

from .conftest import DevStackProcess

REPO = Path(__file__).resolve().parents[2]
MATHFN = REPO / "examples/modules/mathfn/mathfn.wasm"
HELLO = REPO / "examples/modules/hello/hello.wasm"
WASMGRID = Path(sys.executable).parent / "wasmgrid"
EXIT_7 = """(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 7))))"""


@dataclass
class Cli:
    """Runs `wasmgrid` with a private config home against one gateway."""

    home: Path
    url: str

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("WASMGRID_URL", "WASMGRID_TOKEN", "WASMGRID_PROFILE", "NO_COLOR")
        }
        return {**env, "XDG_CONFIG_HOME": str(self.home)}

    def __call__(
        self, *args: str, stdin: str = "", cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(WASMGRID), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=cwd,
            env=self.env(),
        )

    def ok(self, *args: str, stdin: str = "") -> str:
        done = self(*args, stdin=stdin)
        assert done.returncode == 0, f"wasmgrid {' '.join(args)}: {done.stderr}"
        return done.stdout

    def json(self, *args: str, stdin: str = "") -> Any:
        return json.loads(self.ok("--json", *args, stdin=stdin))  # before a `--`


def _cli(dev_stack: DevStackProcess, tmp_path: Path) -> Cli:
    return Cli(tmp_path / "config", f"http://127.0.0.1:{dev_stack.ports.gateway_http}")


def _logged_in_user(dev_stack: DevStackProcess, tmp_path: Path) -> tuple[Cli, str]:
    """A new publisher, logged in with the token `users create` printed."""
    cli = _cli(dev_stack, tmp_path)
    admin = (dev_stack.data_dir / "admin-token").read_text().strip()
    user = f"cli{secrets.token_hex(3)}"
    created = cli.json("users", "create", user, "--url", cli.url, "--token", admin)
    assert created["user"]["username"] == user
    assert created["user"]["role"] == "publisher"
    out = cli.ok("login", "--url", cli.url, stdin=created["secret"] + "\n")
    assert out == f"Logged in to {cli.url} as {user} (publisher).\n"
    return cli, user


def _token(config: Path) -> str:
    return next(
        line.split('"')[1] for line in config.read_text().splitlines() if line.startswith("token")
    )


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_login_checks_the_token_and_saves_a_private_profile(
    dev_stack: DevStackProcess, tmp_path: Path
) -> None:
    cli, user = _logged_in_user(dev_stack, tmp_path)
    config = cli.home / "wasmgrid" / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    saved = config.read_text()
    assert cli.json("whoami")["user"]["username"] == user  # URL and token from the profile

    refused = cli("login", "--url", cli.url, stdin="wgt_not-a-token\n")
    assert refused.returncode == 1
    assert _one_error_line(refused).startswith("wasmgrid: Authentication required: ")
    assert config.read_text() == saved  # a refused token is never saved

    second = cli("login", "--profile", "second", "--url", cli.url, stdin=_token(config) + "\n")
    assert second.returncode == 0, second.stderr
    assert cli.json("whoami", "--profile", "second")["user"]["username"] == user
    missing = cli("whoami", "--profile", "third")
    assert missing.returncode == 2
    assert "wasmgrid login --profile third" in missing.stderr

    assert cli.ok("logout") == "Logged out: profile 'default' no longer holds a token.\n"
    anonymous = cli("whoami")
    assert anonymous.returncode == 1
    assert "(HTTP 401)" in _one_error_line(anonymous)


# About thirty CLI processes in turn: minutes on a loaded 2-core machine.
@pytest.mark.timeout(360)
def test_publish_find_run_call_download_and_yank(
    dev_stack: DevStackProcess, tmp_path: Path
) -> None:
    cli, user = _logged_in_user(dev_stack, tmp_path)
    wasm = MATHFN.read_bytes()
    published = cli.ok(
        "publish",
        str(MATHFN),
        f"{user}/calc@1.0.0",
        "--license",
        "MIT",
        "--category",
        "mathematics",
        "--tag",
        "cli",
        "--description",
        "cli test",
    )
    digest = hashlib.sha256(wasm).hexdigest()
    assert published.startswith(f"Published {user}/calc@1.0.0\n")
    assert f"sha256:{digest}" in published
    assert "valid       yes (wasmtime)" in published
    assert "━" not in published  # no bar when stdout is not a terminal
    echo = cli.json(
        "publish", str(HELLO), f"{user}/echo@1.0.0", "--license", "MIT", "--category", "utilities"
    )
    assert echo["validation"]["kind"] == "command"

    found = cli.json("search", user)["modules"]
    assert sorted(m["name"] for m in found) == [f"{user}/calc", f"{user}/echo"]
    info = cli.json("info", f"{user}/calc@^1")
    assert (info["version"], info["digest"], info["tags"]) == ("1.0.0", digest, ["cli"])
    assert info["validation"]["valid"] is True

    ran = cli("run", f"{user}/echo", "--input", "-", stdin="hello")
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "HELLO", "")
    as_json = cli.json("run", f"{user}/echo@1.0.0", "--query", "env=1")
    assert as_json["status"] == 200
    assert as_json["module"] == f"{user}/echo@1.0.0"
    assert "QUERY_STRING=env=1" in as_json["body"]
    assert len(as_json["trace_id"]) == 32

    assert cli.ok("call", f"{user}/calc", "divmod", "17", "5") == "3\n2\n"
    assert cli.ok("call", f"{user}/calc", "divmod", "--json-args", "[17, 5]") == "3\n2\n"
    assert cli.ok("call", f"{user}/calc@1", "fib", "i64:50") == "12586269025\n"
    trapped = cli("call", f"{user}/calc", "divmod", "1", "0")
    assert trapped.returncode == 134
    assert "trapped" in _one_error_line(trapped)

    target = tmp_path / "calc.wasm"
    downloaded = cli.ok("download", f"{user}/calc", "-o", str(target))
    assert downloaded == f"Downloaded {user}/calc@1.0.0 to {target} (954 B)\n"
    assert target.read_bytes() == wasm
    piped = subprocess.run(
        [str(WASMGRID), "download", f"{user}/calc@=1.0.0", "-o", "-"],
        capture_output=True,
        timeout=60,
        env=cli.env(),
    )
    assert piped.returncode == 0
    assert piped.stdout == wasm

    cli.ok("yank", f"{user}/calc@1.0.0", "--reason", "superseded")
    versions = cli.json("versions", f"{user}/calc")
    assert [(v["version"], v["yanked"]) for v in versions] == [("1.0.0", True)]
    gone = cli("download", f"{user}/calc", "-o", str(tmp_path / "again.wasm"))
    assert gone.returncode == 1
    assert "no version of" in _one_error_line(gone)
    assert not (tmp_path / "again.wasm").exists()
    assert cli.json("info", f"{user}/calc@=1.0.0")["yanked"] is True  # pinned still resolves
    cli.ok("unyank", f"{user}/calc@1.0.0")
    assert cli.json("info", f"{user}/calc@latest")["yanked"] is False


def test_a_module_exit_code_comes_back_as_the_commands(
    dev_stack: DevStackProcess, tmp_path: Path
) -> None:
    cli, user = _logged_in_user(dev_stack, tmp_path)
    module = tmp_path / "exit7.wasm"
    module.write_bytes(bytes(wasmtime.wat2wasm(EXIT_7)))
    cli.ok(
        "publish", str(module), f"{user}/exit7@0.1.0", "--license", "MIT", "--category", "utilities"
    )
    remote = cli("run", f"{user}/exit7")
    assert remote.returncode == 7
    assert _one_error_line(remote).endswith("exited with code 7 (HTTP 500)")
    local = cli("run", str(module))
    assert local.returncode == 7


def test_run_arguments_are_the_modules_argv_here_and_through_the_gateway(
    dev_stack: Any, tmp_path: Path
) -> None:
    cli, user = _logged_in_user(dev_stack, tmp_path)
    module = tmp_path / "argv.wasm"
    module.write_bytes(bytes(wasmtime.wat2wasm((REPO / "tests/wasm/argv.wat").read_text())))
    cli.ok(
        "publish", str(module), f"{user}/argv@0.1.0", "--license", "MIT", "--category", "utilities"
    )
    args = ["-v", "two words", "a+b", "k=v", "100%"]
    remote = cli.ok("run", f"{user}/argv", "--", *args)
    assert remote.splitlines() == [f"{user}/argv@0.1.0", *args]
    local = cli.ok("run", str(module), "--", *args)
    assert local.splitlines()[1:] == ["", "argv.wasm", *args]  # the CGI header's blank line
    both = cli("run", f"{user}/argv", "--query", "x=1", "--", "a")
    assert both.returncode == 2
    assert "give ARGS or --query, not both" in both.stderr


def test_refusals_usage_and_an_unreachable_server_have_their_exit_codes(
    dev_stack: DevStackProcess, tmp_path: Path
) -> None:
    cli = _cli(dev_stack, tmp_path)
    bad = cli("whoami", "--url", cli.url, "--token", "wgt_not-a-real-token")
    assert bad.returncode == 1
    assert _one_error_line(bad).startswith("wasmgrid: Authentication required: ")

    unknown = cli("run", "nobody/no-such-module", "--url", cli.url)
    assert unknown.returncode == 1
    assert _one_error_line(unknown) == (
        "wasmgrid: Not found: module 'nobody/no-such-module' not found (HTTP 404)"
    )
    assert cli("info", "nobody/no-such-module", "--url", cli.url).returncode == 1

    usage = cli("publish", str(HELLO), "nobody/hello", "--url", cli.url)
    assert usage.returncode == 2
    assert "needs a version" in usage.stderr

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down_url = f"http://127.0.0.1:{s.getsockname()[1]}"
    down = cli("search", "--url", down_url)
    assert down.returncode == 3
    assert _one_error_line(down) == (
        f"wasmgrid: cannot reach {down_url} (Connection refused); is the gateway running?"
    )
    env_url = subprocess.run(
        [str(WASMGRID), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**cli.env(), "WASMGRID_URL": down_url},
    )
    assert env_url.returncode == 3
    assert down_url in env_url.stderr


def test_operations_commands_read_the_fleet(dev_stack: DevStackProcess, tmp_path: Path) -> None:
    cli = _cli(dev_stack, tmp_path)
    health = cli.json("status", "--url", cli.url)
    assert {s["service"]: s["status"] for s in health["services"]} == {
        "cache": "serving",
        "gateway": "serving",
        "marketplace": "serving",
        "monitor": "serving",
        "runtime": "serving",
    }
    assert cli.json("routes", "--url", cli.url)["routes"] == []
    assert cli.json("alerts", "--url", cli.url)["truncated"] is False
    ran = cli.json("run", "examples/hello", "--url", cli.url, "--input", "-", stdin="x")
    trace_id = ran["trace_id"]

    def drawn() -> str | None:
        done = cli("trace", trace_id, "--url", cli.url)
        return done.stdout if done.returncode == 0 and "wasm.invoke" in done.stdout else None

    waterfall = wait_until(drawn, "the monitor to have the run's trace with its wasm span", 30, 0.5)
    assert waterfall.startswith(f"trace {trace_id}: ")
    assert "█" in waterfall


def test_publish_draws_its_progress_bar_in_a_real_terminal(
    dev_stack: DevStackProcess, tmp_path: Path
) -> None:
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install tmux (.ci/run does)")
        pytest.skip("needs tmux")
    cli, user = _logged_in_user(dev_stack, tmp_path)
    big = tmp_path / "big.wasm"
    padding = os.urandom(6 * 1024 * 1024)
    big.write_bytes(with_custom_section(HELLO.read_bytes(), b"padding", padding))
    socket_name = f"wasmgrid-test-{secrets.token_hex(4)}"
    script = tmp_path / "publish.sh"
    script.write_text(
        f"{WASMGRID} publish {big} {user}/big@1.0.0 --license MIT --category utilities\n"
        "echo EXIT=$?\nsleep 60\n"
    )
    env = {**cli.env(), "TERM": "xterm-256color"}
    env.pop("TMUX", None)
    subprocess.run(
        [
            "tmux",
            "-L",
            socket_name,
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "30",
            "bash",
            str(script),
        ],
        check=True,
        env=env,
        timeout=30,
    )

    def finished() -> str | None:
        screen = subprocess.run(
            ["tmux", "-L", socket_name, "capture-pane", "-p", "-t", "0"],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
        ).stdout
        return screen if "EXIT=" in screen else None

    try:
        screen = wait_until(finished, "the publish in tmux to print its EXIT= line", 90, 0.3)
    finally:
        subprocess.run(["tmux", "-L", socket_name, "kill-server"], capture_output=True, env=env)
    assert "EXIT=0" in screen, screen
    bar = next((line for line in screen.splitlines() if "Uploading big.wasm" in line), "")
    assert "━━━━━━━━━━" in bar, screen
    assert "100%" in bar, screen
    assert "6.0/6.0 MiB" in bar, screen
    assert f"Published {user}/big@1.0.0" in screen


def test_publish_with_assets_then_run_reads_a_file_from_them(
    dev_stack: Any, tmp_path: Path
) -> None:
    cli, user = _logged_in_user(dev_stack, tmp_path)
    tree = tmp_path / "assets"
    (tree / "data").mkdir(parents=True)
    (tree / "data" / "words.txt").write_text("alpha\nbeta\n")
    (tree / "README").write_text("read me")
    files = REPO / "examples/modules/files/files.wasm"
    published = cli.json(
        "publish",
        str(files),
        f"{user}/files@1.0.0",
        "--license",
        "MIT",
        "--category",
        "utilities",
        "--assets",
        str(tree),
        "--assets-mount",
        "/share",
    )
    assets = published["assets"]
    assert (assets["file_count"], assets["content_bytes"], assets["mount"]) == (2, 18, "/share")

    ran = cli("run", f"{user}/files", "--path", "/share/data/words.txt")
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "alpha\nbeta\n", "")
    listed = cli("run", f"{user}/files", "--path", "/share", "--", "op=ls")
    assert (listed.returncode, listed.stdout) == (0, "README\ndata\n")

    not_archive = tmp_path / "notes.txt"
    not_archive.write_text("plain text")
    refused = cli("publish", str(files), f"{user}/files@1.0.1", "--assets", str(not_archive))
    assert refused.returncode == 1
    assert _one_error_line(refused) == (
        f"wasmgrid: assets {not_archive}: not a directory or a tar, tar.gz, tar.zst or zip archive"
    )


def test_the_audit_command_shows_who_changed_what_to_admins_only(
    dev_stack: DevStackProcess, tmp_path: Path
) -> None:
    cli, user = _logged_in_user(dev_stack, tmp_path)
    cli.ok(
        "publish", str(HELLO), f"{user}/aud@1.0.0", "--license", "MIT", "--category", "utilities"
    )
    cli.ok("yank", f"{user}/aud@1.0.0", "--reason", "audit test")
    admin = (dev_stack.data_dir / "admin-token").read_text().strip()
    as_admin = ("--url", cli.url, "--token", admin)

    page = cli.json("audit", "--actor", user, "--since", "1h", *as_admin)
    assert [(e["action"], e["module"], e["version"]) for e in page["events"]] == [
        ("yank", f"{user}/aud", "1.0.0"),
        ("publish", f"{user}/aud", "1.0.0"),
    ]
    yank = page["events"][0]
    assert (yank["actor"], yank["detail"]) == (user, {"reason": "audit test"})
    assert yank["client_address"] == "127.0.0.1"
    assert len(yank["trace_id"]) == 32
    created = cli.json("audit", "--namespace", user, "--action", "user_create", *as_admin)
    assert [e["subject"] for e in created["events"]] == [user]

    table = cli.ok("audit", "--namespace", user, "--limit", "1", *as_admin)
    assert "yank" in table
    assert "reason=audit test" in table
    assert yank["trace_id"] in table
    assert cli.ok("audit", "--namespace", user, "--until", "2000-01-01", *as_admin) == ""

    refused = cli("audit")  # the logged-in publisher
    assert refused.returncode == 1
    assert "only an admin" in _one_error_line(refused)
    bad = cli("audit", "--since", "last tuesday", *as_admin)
    assert bad.returncode == 2
    assert "RFC 3339" in bad.stderr


def test_an_admin_lists_users_and_changes_a_role_which_the_users_token_feels_at_once(
    dev_stack: DevStackProcess, tmp_path: Path
) -> None:
    cli, user = _logged_in_user(dev_stack, tmp_path)
    admin = (dev_stack.data_dir / "admin-token").read_text().strip()
    as_admin = ("--url", cli.url, "--token", admin)

    listed = cli.json("users", "list", "--role", "publisher", *as_admin)
    assert user in [u["username"] for u in listed]
    assert {u["role"] for u in listed} == {"publisher"}
    assert user in cli.ok("users", "list", *as_admin)

    assert cli.ok("users", "set-role", user, "user", *as_admin) == f"{user}: publisher → user.\n"
    me = cli.ok("whoami")  # the user's own saved token, now within the user role
    assert "in effect   rate\n" in me, me
    assert cli.json("whoami")["effective_scopes"] == ["rate"]
    refused = cli("publish", str(HELLO), f"{user}/late@1.0.0", "--license", "MIT")
    assert refused.returncode == 1
    assert "publish" in _one_error_line(refused)

    promoted = cli.json("users", "set-role", user, "admin", "--issue-token", *as_admin)
    assert (promoted["previous_role"], promoted["user"]["role"]) == ("user", "admin")
    assert sorted(promoted["token"]["scopes"]) == ["admin", "publish", "rate", "yank"]
    assert cli.json("whoami", "--token", promoted["secret"])["effective_scopes"]
    again = cli.ok("users", "set-role", user, "admin", *as_admin)
    assert again == f"{user} is already admin; nothing changed.\n"
    cli.ok("users", "set-role", user, "publisher", *as_admin)

    bootstrap = cli("users", "set-role", "admin", "user", *as_admin)
    assert bootstrap.returncode == 1
    assert "bootstrap admin" in _one_error_line(bootstrap)
    stranger = cli("users", "list")  # the logged-in user, a publisher again
    assert stranger.returncode == 1
    assert "only an admin may list users" in _one_error_line(stranger)
