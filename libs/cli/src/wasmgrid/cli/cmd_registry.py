"""The registry: publish, search, info, versions, download, yank, unyank, rate, stats."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from wasmgrid.cli.app import CliError, connection_options, run_async, session, split_ref
from wasmgrid.cli.output import Output, count, size, sparkline, when
from wasmgrid.client import (
    Assets,
    Client,
    Download,
    Module,
    ModuleVersion,
    ValidationReport,
)
from wasmgrid.marketplace import semver


async def resolve(wg: Client, name: str, requirement: str) -> ModuleVersion:
    """The version of `name` that `requirement` selects, as the registry itself would.

    The HTTP API resolves requirements only when it runs a module, so the CLI applies
    the registry's own resolver (``wasmgrid.marketplace.semver``: caret for a bare
    version, yanked versions only when pinned with ``=``) to the version list.
    """
    try:
        req = semver.Requirement.parse(requirement or "latest")
    except semver.SemverError as exc:
        raise CliError(f"requirement {requirement!r}: {exc}", 2) from None
    versions = await wg.all_versions(name)
    by_version = {semver.Version.parse(v.version): v for v in versions}
    chosen = semver.resolve(req, ((v, mv.yanked) for v, mv in by_version.items()))
    if chosen is None:
        listed = ", ".join(v.version for v in versions[:10]) or "none published"
        raise CliError(
            f"no version of {name} matches {req.text!r} (yanked versions match only when"
            f" pinned with =x.y.z); versions: {listed}"
        )
    return by_version[chosen]


def _report_lines(report: ValidationReport | None) -> list[tuple[str, str]]:
    if report is None:
        return []
    toolchain = f"({report.toolchain})" if report.toolchain else ""
    built = " ".join(x for x in (report.language, toolchain) if x)
    by_severity: dict[str, int] = {}
    for finding in report.findings:
        by_severity[finding.severity] = by_severity.get(finding.severity, 0) + 1
    summary = ", ".join(f"{n} {sev}" for sev, n in sorted(by_severity.items())) or "none"
    return [
        ("valid", f"{'yes' if report.valid else 'NO'} ({report.validator or 'validator'})"),
        ("kind", report.kind),
        ("built with", built),
        ("features", ", ".join(report.features) or "WebAssembly MVP"),
        (
            "imports",
            ", ".join(f"{i.module}.{i.name}" for i in report.imports[:8])
            + (f", … ({len(report.imports)})" if len(report.imports) > 8 else ""),
        ),
        ("findings", summary),
    ]


def _show_findings(out: Output, report: ValidationReport | None) -> None:
    if report is None:
        return
    for finding in report.findings:
        out.text(f"  {finding.severity:<8} {finding.code}: {finding.message}")


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("reference", metavar="NS/NAME@VERSION")
@click.option("--description", default="", help="what the module does (up to 2,000 characters)")
@click.option("--license", "license_", metavar="SPDX", default="", help="SPDX license, e.g. MIT")
@click.option("--category", default="", help="e.g. utilities, mathematics, networking")
@click.option("--tag", "tags", multiple=True, help="a tag (repeat for more, up to 10)")
@click.option("--homepage", default="", metavar="URL", help="project homepage")
@click.option("--repository", default="", metavar="URL", help="source repository")
@click.option(
    "--assets",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    metavar="DIR|ARCHIVE",
    help="read-only files for the version: a directory (packed as tar.gz) or a tar,"
    " tar.gz, tar.zst or zip archive",
)
@click.option(
    "--assets-mount",
    default="",
    metavar="PATH",
    help="guest path where the module sees its assets (default /assets)",
)
@connection_options
def publish(  # noqa: PLR0913 - one parameter per click option
    file: Path,
    reference: str,
    description: str,
    license_: str,
    category: str,
    tags: tuple[str, ...],
    homepage: str,
    repository: str,
    assets: Path | None,
    assets_mount: str,
) -> None:
    """Publish a module file as a new version.

    Publishes FILE as NS/NAME@VERSION, then shows its digest and the registry's
    validation and security-scan report. With --assets, the version carries
    read-only files its calls see at --assets-mount (default /assets).

    The upload streams from disk with its SHA-256, which the registry checks, and
    shows a progress bar (module and assets together) on a terminal. Needs a token
    with the publish scope.
    """
    name, version = split_ref(reference, version_required=True)
    if assets_mount and assets is None:
        raise CliError("--assets-mount needs --assets")
    s = session()
    total = file.stat().st_size

    async def go() -> ModuleVersion:
        async with s.client() as wg:
            with s.out.transfer(f"Uploading {file.name}", total) as progress:
                return await wg.publish(
                    name,
                    version,
                    file,
                    description=description,
                    license=license_,
                    category=category,
                    tags=tags,
                    homepage=homepage,
                    repository=repository,
                    progress=progress,
                    assets=assets,
                    assets_mount=assets_mount,
                )

    try:
        published = run_async(go())
    except ValueError as exc:  # an --assets path that is not a directory or an archive
        raise CliError(str(exc)) from None
    out = s.out
    if out.json_mode:
        out.json(published)
        return
    if out.quiet:
        out.text(f"sha256:{published.digest}")
        return
    out.text(f"Published {published.name}@{published.version}")
    out.fields(
        [
            ("digest", f"sha256:{published.digest}"),
            ("size", size(published.size_bytes)),
            *_assets_lines(published.assets),
            *_report_lines(published.validation),
        ]
    )
    _show_findings(out, published.validation)


def _assets_lines(assets: Assets | None) -> list[tuple[str, str]]:
    if assets is None:
        return []
    return [
        (
            "assets",
            f"{assets.file_count} files, {size(assets.content_bytes)} at {assets.mount}"
            f" (sha256:{assets.digest})",
        )
    ]


@click.command()
@click.argument("query", required=False, default="")
@click.option("--category", help="only this category")
@click.option("--tag", help="only modules with this tag")
@click.option(
    "--sort",
    type=click.Choice(["relevance", "downloads", "rating", "recent", "name"]),
    help="order (default: relevance with a query, else downloads)",
)
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@connection_options
def search(query: str, category: str | None, tag: str | None, sort: str | None, limit: int) -> None:
    """Search the registry.

    QUERY matches names, tags and descriptions; typos in names are forgiven.
    """
    s = session()
    page = s.request(
        lambda wg: wg.search(query, category=category, tag=tag, sort=sort, limit=limit)
    )
    if s.out.json_mode:
        s.out.json(page)
        return
    s.out.table(
        ["NAME", "LATEST", "KIND", "DOWNLOADS", "RATING", "DESCRIPTION"],
        [
            [
                m.name,
                m.latest_version,
                m.kind,
                count(m.downloads),
                f"{m.rating_average:.1f} ({m.rating_count})" if m.rating_count else "-",
                m.description[:70] + ("…" if len(m.description) > 70 else ""),
            ]
            for m in page.modules
        ],
        empty="no modules found",
    )


@click.command()
@click.argument("reference", metavar="NS/NAME[@REQ]")
@connection_options
def info(reference: str) -> None:
    """Show a module, or the version @REQ selects.

    Without @REQ: the registry entry. With @REQ (1.2.3 means ^1.2.3, =1.2.3 is
    exact, latest is the default): that version and its validation report.
    """
    name, requirement = split_ref(reference)
    s = session()

    async def go() -> Module | ModuleVersion:
        async with s.client() as wg:
            if not requirement:
                return await wg.module(name)
            chosen = await resolve(wg, name, requirement)
            return await wg.version(name, chosen.version)

    found = run_async(go())
    out = s.out
    if out.json_mode:
        out.json(found)
    elif isinstance(found, Module):
        out.fields(
            [
                ("name", found.name),
                ("latest", found.latest_version + (" (all yanked)" if found.all_yanked else "")),
                ("kind", found.kind),
                ("description", found.description),
                ("license", found.license),
                ("category", found.category),
                ("tags", ", ".join(found.tags)),
                ("owners", ", ".join(found.owners)),
                ("versions", found.version_count),
                ("downloads", count(found.downloads)),
                (
                    "rating",
                    f"{found.rating_average:.1f} of 5 ({found.rating_count} ratings)"
                    if found.rating_count
                    else "not rated",
                ),
                ("homepage", found.homepage),
                ("repository", found.repository),
                ("updated", when(found.updated_at)),
            ]
        )
    else:
        out.fields(
            [
                ("name", f"{found.name}@{found.version}"),
                ("digest", f"sha256:{found.digest}"),
                ("size", size(found.size_bytes)),
                ("published", f"{when(found.published_at)} by {found.published_by}"),
                ("yanked", f"yes: {found.yank_reason}" if found.yanked else ""),
                ("description", found.description),
                ("license", found.license),
                ("tags", ", ".join(found.tags)),
                ("downloads", count(found.downloads)),
                *_report_lines(found.validation),
            ]
        )
        _show_findings(out, found.validation)


@click.command()
@click.argument("name", metavar="NS/NAME")
@connection_options
def versions(name: str) -> None:
    """List a module's versions, highest first."""
    split_ref(name)
    s = session()
    found = s.request(lambda wg: wg.all_versions(name))
    if s.out.json_mode:
        s.out.json(found)
        return
    s.out.table(
        ["VERSION", "PUBLISHED", "BY", "SIZE", "DOWNLOADS", "YANKED"],
        [
            [
                v.version,
                when(v.published_at),
                v.published_by,
                size(v.size_bytes),
                count(v.downloads),
                v.yank_reason if v.yanked else "",
            ]
            for v in found
        ],
        empty="no versions",
    )


@click.command()
@click.argument("reference", metavar="NS/NAME[@REQ]")
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="where to write it ('-' for stdout; default NAME-VERSION.wasm here)",
)
@connection_options
def download(reference: str, output: str | None) -> None:
    """Download a version and check its SHA-256.

    Downloads the version REQ selects (default: latest).
    The bytes must hash to the digest the registry recorded at publish time;
    otherwise nothing is written and the command fails.
    """
    name, requirement = split_ref(reference)
    s = session()
    to_stdout = output == "-"

    async def go() -> tuple[ModuleVersion, Download, Path | None]:
        async with s.client() as wg:
            chosen = await resolve(wg, name, requirement)
            label = f"{name}@{chosen.version}"
            if to_stdout:
                got = await wg.download(name, chosen.version)
                if got.digest != chosen.digest:
                    raise CliError(f"{label}: sha256 {got.digest} is not {chosen.digest}")
                sys.stdout.buffer.write(got.data)
                sys.stdout.flush()
                return chosen, got, None
            target = Path(output or f"{name.split('/')[1]}-{chosen.version}.wasm")
            with s.out.transfer(f"Downloading {label}", chosen.size_bytes) as progress:
                got = await wg.download_to(name, chosen.version, target, progress=progress)
            if got.digest != chosen.digest:
                await asyncio.to_thread(target.unlink, missing_ok=True)
                raise CliError(f"{label}: sha256 {got.digest} is not the published {chosen.digest}")
            return chosen, got, target

    chosen, got, target = run_async(go())
    if s.out.json_mode and target is not None:
        s.out.json(
            {
                "name": name,
                "version": chosen.version,
                "digest": got.digest,
                "size_bytes": got.size_bytes,
                "path": str(target),
                "verified": True,
            }
        )
    elif target is not None:
        s.out.text(f"Downloaded {name}@{chosen.version} to {target} ({size(got.size_bytes)})")
        s.out.note(f"sha256:{got.digest} verified")


@click.command()
@click.argument("reference", metavar="NS/NAME@VERSION")
@click.option("--reason", required=True, help="why (shown to everyone who looks)")
@connection_options
def yank(reference: str, reason: str) -> None:
    """Yank a version.

    Requirements stop selecting it; users who pinned it (=1.2.3) still get it.
    """
    name, version = split_ref(reference, version_required=True)
    s = session()
    done = s.request(lambda wg: wg.yank(name, version, reason))
    if s.out.json_mode:
        s.out.json(done)
    else:
        s.out.text(f"Yanked {done.name}@{done.version}: {done.yank_reason}")


@click.command()
@click.argument("reference", metavar="NS/NAME@VERSION")
@connection_options
def unyank(reference: str) -> None:
    """Undo a yank."""
    name, version = split_ref(reference, version_required=True)
    s = session()
    done = s.request(lambda wg: wg.unyank(name, version))
    if s.out.json_mode:
        s.out.json(done)
    else:
        s.out.text(f"Unyanked {done.name}@{done.version}")


@click.command()
@click.argument("name", metavar="NS/NAME")
@click.argument("stars", type=click.IntRange(1, 5))
@click.option("--review", default="", help="a few words (up to 2,000 characters)")
@connection_options
def rate(name: str, stars: int, review: str) -> None:
    """Rate a module 1 to 5 stars.

    One rating per user: a new one replaces your old one.
    """
    split_ref(name)
    s = session()
    done = s.request(lambda wg: wg.rate(name, stars, review))
    if s.out.json_mode:
        s.out.json(done)
    else:
        summary = done.summary
        s.out.text(
            f"Rated {name} {'★' * stars}{'☆' * (5 - stars)}; now {summary.average:.1f} of 5"
            f" from {summary.count} rating{'s' if summary.count != 1 else ''}."
        )


@click.command()
@click.argument("name", metavar="NS/NAME")
@click.option("--days", type=click.IntRange(1, 366), help="window in days (default 30)")
@connection_options
def stats(name: str, days: int | None) -> None:
    """Show a module's download counts.

    Totals over the window and all time, per version, and a daily chart.
    """
    split_ref(name)
    s = session()
    found = s.request(lambda wg: wg.stats(name, days=days))
    out = s.out
    if out.json_mode:
        out.json(found)
        return
    out.fields(
        [
            ("module", found.name),
            (
                f"last {found.days} days",
                f"{count(found.user_downloads)} downloads,"
                f" {count(found.runtime_fetches)} runtime fetches",
            ),
            (
                "all time",
                f"{count(found.user_downloads_total)} downloads,"
                f" {count(found.runtime_fetches_total)} runtime fetches",
            ),
            ("daily", sparkline([d.user_downloads for d in found.daily])),
        ]
    )
    out.table(
        ["VERSION", "DOWNLOADS", "RUNTIME", "ALL TIME"],
        [
            [
                v.version,
                count(v.user_downloads),
                count(v.runtime_fetches),
                count(v.user_downloads_total),
            ]
            for v in found.versions
        ],
        empty="no versions",
    )
