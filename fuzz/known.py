"""Findings already reported and scheduled for a fix, each with its regression test.

libFuzzer stops at the first crash, so a finding that is easy to reach would hide every
other one until it is fixed. While a finding is listed here, a fuzz run counts its
occurrences (reported beside the run, never hidden) and goes on; ``--strict`` stops at
it like at any other. Each entry names the owning package's regression test, marked
``xfail(strict=True)``: when the fix lands that test passes, pytest reports the strict
xfail as a failure, and the entry is removed here together with the marker
(``fuzz/tests`` also fails, since the reproducer below no longer raises).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from aiohttp.http_exceptions import HttpProcessingError

from fuzz.oracle import Violation


@dataclass(frozen=True)
class KnownFinding:
    """One known finding: which failures it covers and where it is tracked."""

    id: str
    target: str
    summary: str
    #: ``path::test_name`` of the strict-xfail regression test.
    regression: str
    #: The smallest input known to reproduce it.
    reproducer: bytes
    #: A Violation of this kind, or an exception of one of these types ...
    kind: str = ""
    exc_types: tuple[type[BaseException], ...] = ()
    #: ... whose message holds this, raised through a frame whose ``file:function``
    #: holds `where` (when set).
    message: str = ""
    where: str = ""

    def matches(self, exc: BaseException) -> bool:
        """Whether `exc` is this finding."""
        if self.kind:
            return isinstance(exc, Violation) and exc.kind == self.kind
        if not isinstance(exc, self.exc_types) or self.message not in str(exc):
            return False
        if not self.where:
            return True
        frames = traceback.extract_tb(exc.__traceback__)
        return any(self.where in f"{frame.filename}:{frame.name}" for frame in frames)


_GW = "services/gateway/tests/test_gateway_fuzz_findings.py::"
_MP = "services/marketplace/tests/test_marketplace_fuzz_findings.py::"

KNOWN: tuple[KnownFinding, ...] = (
    KnownFinding(
        "wasm-nul-in-report",
        "wasm",
        "a name holding U+0000 (an export, import or custom section name: valid UTF-8, so"
        " wasmtime accepts it) goes into the validation report, which PostgreSQL's jsonb"
        " refuses: the publish fails in the database, answered as an internal error",
        _MP + "test_a_module_with_a_nul_in_a_name_is_published_or_refused_clearly",
        b"\x00asm\x01\x00\x00\x00\x01\x04\x01`\x00\x00\x03\x02\x01\x00\x07\x07\x01\x03a\x00b"
        b"\x00\x00\n\x04\x01\x02\x00\x0b",
        kind="validation.nul-in-report",
    ),
    KnownFinding(
        "cgi-header-ctl",
        "cgi",
        "a guest's header value with a control character (NUL, DEL, …) passes into the HTTP"
        " response, which aiohttp refuses to write ('Forbidden control character'): the"
        " connection is dropped and the client gets no answer at all instead of a 502",
        _GW + "test_a_guest_header_with_a_control_character_is_a_cgi_error",
        b"X-A: a\x00b\n\n",
        kind="cgi.header-ctl",
    ),
    KnownFinding(
        "cgi-reason-ctl",
        "cgi",
        "a guest's Status reason phrase with a control character goes into the status line,"
        " which aiohttp refuses to write: the client gets no answer at all instead of a 502",
        _GW + "test_a_guest_status_reason_with_a_control_character_is_a_cgi_error",
        b"Status: 200 O\x01K\n\n",
        kind="cgi.reason-ctl",
    ),
    KnownFinding(
        "multipart-parser-error-500",
        "multipart",
        "a malformed multipart body (wrong boundary, a bad part header) raises aiohttp's"
        " ValueError or BadHttpMessage out of the publish handler: answered 500, not 400",
        _GW + "test_a_malformed_multipart_publish_is_answered_400",
        b"multipart/form-data; boundary=b\n--x\r\n",
        exc_types=(ValueError, HttpProcessingError),
        where="aiohttp/multipart.py",
    ),
    KnownFinding(
        "multipart-lone-surrogate-500",
        "multipart",
        'metadata JSON with an escaped lone surrogate ("\\ud800") is valid JSON but no'
        " UTF-8 string: building the PublishMetadata raises UnicodeEncodeError, answered 500",
        _GW + "test_publish_metadata_with_a_lone_surrogate_is_answered_400",
        b"multipart/form-data; boundary=b\n--b\r\nContent-Disposition: form-data;"
        b' name="metadata"\r\n\r\n{"license": "\\ud800"}\r\n--b--\r\n',
        exc_types=(UnicodeEncodeError,),
        where="upload.py:metadata_from_json",
    ),
    KnownFinding(
        "multipart-content-type-500",
        "multipart",
        "a Content-Type parameter name ending in '*' with no value ('a/b; c*') makes"
        " aiohttp's parse_content_type (CPython's email header parser) raise IndexError"
        " when the handler reads request.content_type: answered 500",
        _GW + "test_a_publish_with_an_unparsable_content_type_is_refused_as_a_client_error",
        b"a/b; c*\n",
        exc_types=(IndexError,),
        where="helpers.py:parse_content_type",
    ),
    KnownFinding(
        "semver-requirement-newline",
        "semver",
        "a requirement term holding a newline fails an assert in Requirement.parse"
        " (AssertionError, not SemverError): the marketplace answers INTERNAL",
        _MP + "test_a_requirement_with_a_newline_is_refused_as_invalid",
        b"\x00*\n0",
        exc_types=(AssertionError,),
        where="semver.py:parse",
    ),
    KnownFinding(
        "semver-round-trip",
        "semver",
        "Version.parse accepts a trailing newline ('$' matches before it) and digits of other"
        " scripts (\\d): '1.2.1٠' publishes version 1.2.10",
        _MP + "test_a_version_that_is_not_ascii_semver_is_refused",
        "1.2.1\u0660".encode(),
        kind="semver.round-trip",
    ),
    KnownFinding(
        "semver-requirement-digits",
        "semver",
        "a requirement's numbers may be digits of other scripts: '^1٠' resolves as '^10'",
        _MP + "test_a_requirement_with_digits_of_another_script_is_refused",
        "\x00^1\u0660".encode(),
        kind="semver.requirement-digits",
    ),
    KnownFinding(
        "routes-yaml-recursion",
        "routes",
        "deeply nested YAML ([[[[…) raises RecursionError out of the YAML loader: at start"
        " the gateway dies with a traceback, on reload the file watcher stops for good",
        _GW + "test_a_deeply_nested_routes_file_is_refused_and_watching_goes_on",
        b"[" * 1000,
        exc_types=(RecursionError,),
    ),
)


def classify(target: str, exc: BaseException) -> KnownFinding | None:
    """The known finding of `target` that `exc` is, if any."""
    for finding in KNOWN:
        if finding.target == target and finding.matches(exc):
            return finding
    return None
