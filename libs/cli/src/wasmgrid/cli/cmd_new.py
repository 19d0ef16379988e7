"""`wasmgrid new TEMPLATE DIR`: a module project that builds with make and runs at once."""

from __future__ import annotations

import importlib.resources
import re
from importlib.resources.abc import Traversable
from pathlib import Path

import click

from wasmgrid.cli.app import CliError, output_options, session

TEMPLATES = {
    "c-wagi": "C, WAGI/CGI command: request body on stdin, response on stdout",
    "c-function": "C, function module (reactor): typed exports called by name",
    "wat": "WebAssembly text, a WASI command built with wat2wasm",
}
#: What stands for the project's name inside template files.
PLACEHOLDER = "{{name}}"


def project_name(directory: Path) -> str:
    """A registry-valid module name from the directory's name: ``My App`` → ``my-app``."""
    name = re.sub(r"[^a-z0-9]+", "-", directory.resolve().name.lower()).strip("-")
    if not name:
        raise CliError(f"cannot derive a module name from {directory}; pick another DIR", 2)
    return name[:64].rstrip("-")


def _files(root: Traversable, prefix: str = "") -> list[tuple[str, str]]:
    found = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            found.extend(_files(entry, f"{prefix}{entry.name}/"))
        else:
            found.append((prefix + entry.name, entry.read_text()))
    return found


@click.command()
@click.argument("template", type=click.Choice(sorted(TEMPLATES)))
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@output_options
def new(template: str, directory: Path) -> None:
    """Create a module project from a template.

    Writes the TEMPLATE's files into DIR (new or empty).

    \b
    c-wagi      C, WAGI/CGI command: request body on stdin, response on stdout
    c-function  C, function module: typed exports called by name
    wat         WebAssembly text, a WASI command built with wat2wasm

    Then: cd DIR && make && make run.
    """
    s = session()
    if directory.exists() and any(directory.iterdir()):
        raise CliError(f"{directory} exists and is not empty; pick a new directory", 2)
    name = project_name(directory)
    source = importlib.resources.files("wasmgrid.cli") / "templates" / template
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for relative, text in _files(source):
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.replace(PLACEHOLDER, name))
        written.append(relative)
    (directory / ".gitignore").write_text("*.wasm\n")
    if s.out.json_mode:
        s.out.json(
            {"template": template, "directory": str(directory), "name": name, "files": written}
        )
        return
    s.out.text(f"Created {template} module {name!r} in {directory}:")
    for relative in written:
        s.out.text(f"  {relative}")
    s.out.text(f"Next: cd {directory} && make && make run")
