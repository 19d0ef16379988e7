"""CGI environment building and CGI response parsing edge cases."""

from __future__ import annotations

import pytest

from wasmgrid.gateway.cgi import (
    CgiError,
    CgiRequest,
    build_env,
    header_env_name,
    parse_response,
    query_argv,
    stderr_excerpt,
)


def _req(**kw: object) -> CgiRequest:
    base: dict[str, object] = {
        "method": "post",
        "script_name": "/v1/run/ns/hello",
        "path_info": "/a/b",
        "query_string": "x=1&y=2",
        "headers": [],
        "remote_addr": "10.0.0.7",
        "server_name": "edge.example.com",
        "server_port": 8080,
        "content_length": 5,
    }
    base.update(kw)
    return CgiRequest(**base)  # type: ignore[arg-type]


def test_env_has_rfc3875_variables() -> None:
    env = build_env(
        _req(
            headers=[("Content-Type", "text/plain"), ("User-Agent", "curl/8")],
            matched_route="hello",
            route_params={"who": "bob"},
        )
    )
    assert env["REQUEST_METHOD"] == "POST"
    assert env["PATH_INFO"] == "/a/b"
    assert env["SCRIPT_NAME"] == "/v1/run/ns/hello"
    assert env["QUERY_STRING"] == "x=1&y=2"
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "5"
    assert env["SERVER_NAME"] == "edge.example.com"
    assert env["SERVER_PORT"] == "8080"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert env["REMOTE_ADDR"] == "10.0.0.7"
    assert env["HTTP_USER_AGENT"] == "curl/8"
    assert env["X_MATCHED_ROUTE"] == "hello"
    assert env["X_PARAM_WHO"] == "bob"
    assert "HTTP_CONTENT_TYPE" not in env


def test_header_mapping_hides_credentials_and_underscore_names() -> None:
    assert header_env_name("X-Forwarded-For") == "HTTP_X_FORWARDED_FOR"
    assert header_env_name("Authorization") is None
    assert header_env_name("Proxy-Authorization") is None
    assert header_env_name("X_Forwarded_For") is None
    assert header_env_name("bad header") is None
    env = build_env(_req(headers=[("Authorization", "Bearer secret"), ("X_Real_Ip", "1.2.3.4")]))
    assert all("secret" not in v for v in env.values())
    assert "HTTP_X_REAL_IP" not in env


def test_repeated_headers_join_and_cookie_uses_semicolon() -> None:
    env = build_env(
        _req(headers=[("Accept", "a"), ("accept", "b"), ("Cookie", "x=1"), ("Cookie", "y=2")])
    )
    assert env["HTTP_ACCEPT"] == "a, b"
    assert env["HTTP_COOKIE"] == "x=1; y=2"


def test_env_is_bounded_and_control_characters_replaced() -> None:
    env = build_env(_req(headers=[("X-Big", "v" * 5000), ("X-Ok", "a\nb")]), max_env_bytes=2048)
    assert "HTTP_X_BIG" not in env
    assert env["HTTP_X_OK"] == "a b"


def test_no_content_length_for_empty_get() -> None:
    env = build_env(_req(method="GET", content_length=0))
    assert "CONTENT_LENGTH" not in env


@pytest.mark.parametrize("nl", [b"\n", b"\r\n"])
def test_document_response_lf_and_crlf(nl: bytes) -> None:
    out = b"Content-Type: text/html" + nl + b"X-Extra: 1" + nl + nl + b"<p>hi</p>" + nl
    resp = parse_response(out)
    assert resp.status == 200
    assert resp.header("content-type") == "text/html"
    assert resp.header("X-Extra") == "1"
    assert resp.body == b"<p>hi</p>" + nl


def test_status_header_sets_status_and_reason() -> None:
    resp = parse_response(b"Status: 404 Nope\nContent-Type: text/plain\n\nmissing")
    assert (resp.status, resp.reason, resp.body) == (404, "Nope", b"missing")
    assert resp.header("Status") is None


def test_status_without_reason_gets_standard_reason() -> None:
    assert parse_response(b"Status: 201\n\n").reason == "Created"


@pytest.mark.parametrize("line", [b"Status: abc", b"Status: 99", b"Status: 600 x", b"Status: "])
def test_bad_status_line_is_an_error(line: bytes) -> None:
    with pytest.raises(CgiError, match="Status"):
        parse_response(line + b"\nContent-Type: text/plain\n\nbody")


def test_raw_body_fallback_when_no_headers() -> None:
    resp = parse_response(b"just some text\nwith lines\n\nand more")
    assert resp.status == 200
    assert resp.header("Content-Type") == "application/octet-stream"
    assert resp.body == b"just some text\nwith lines\n\nand more"
    assert parse_response(b"").body == b""


def test_headers_only_output_has_empty_body() -> None:
    resp = parse_response(b"Status: 204\n")
    assert (resp.status, resp.body) == (204, b"")


def test_local_redirect() -> None:
    resp = parse_response(b"Location: /other/path?q=1\n\n")
    assert resp.local_redirect == "/other/path?q=1"


def test_local_redirect_with_other_headers_is_an_error() -> None:
    with pytest.raises(CgiError, match="local redirect"):
        parse_response(b"Location: /x\nX-Foo: 1\n\n")


def test_client_redirect_defaults_to_302() -> None:
    resp = parse_response(b"Location: https://example.com/\n\n")
    assert resp.status == 302
    assert resp.header("Location") == "https://example.com/"
    assert resp.local_redirect is None
    with_doc = parse_response(
        b"Status: 301 Moved\nLocation: https://e.com/\nContent-Type: text/plain\n\nmoved"
    )
    assert (with_doc.status, with_doc.body) == (301, b"moved")


def test_hop_by_hop_headers_are_dropped() -> None:
    resp = parse_response(
        b"Content-Type: text/plain\nTransfer-Encoding: chunked\nContent-Length: 99\n"
        b"Connection: close\nX-Keep: y\n\nbody"
    )
    names = {k.lower() for k, _ in resp.headers}
    assert names == {"content-type", "x-keep"}


def test_header_section_size_cap() -> None:
    big = b"X-A: " + b"a" * 200 + b"\n"
    with pytest.raises(CgiError, match="100-byte limit"):
        parse_response(big + b"\nbody", max_header_bytes=100)
    with pytest.raises(CgiError, match="100-byte limit"):
        parse_response(b"X-A: 1\n" * 50, max_header_bytes=100)


def test_header_count_cap() -> None:
    with pytest.raises(CgiError, match="limit is 3"):
        parse_response(b"A: 1\nB: 2\nC: 3\nD: 4\n\n", max_headers=3)


def test_malformed_header_line_after_valid_first_line() -> None:
    with pytest.raises(CgiError, match="line 2"):
        parse_response(b"Content-Type: text/plain\nthis is not a header\n\nbody")


def test_body_without_content_type_gets_default() -> None:
    resp = parse_response(b"X-A: 1\n\nhello", raw_content_type="text/plain")
    assert resp.header("Content-Type") == "text/plain"


def test_stderr_excerpt_keeps_the_end() -> None:
    assert stderr_excerpt(b"abcdef", 3) == "…def"
    assert stderr_excerpt(b"abc", 10) == "abc"
    assert stderr_excerpt(b"abc", 0) == ""


@pytest.mark.parametrize(
    ("query", "argv"),
    [
        ("a+b+c", ["a", "b", "c"]),
        ("two%20words+d%2Be+%3D", ["two words", "d+e", "="]),
        ("caf%C3%A9", ["café"]),
        ("k", ["k"]),
        ("", []),
        ("a++b", []),  # an empty word: no command line at all (RFC 3875 §4.4)
        ("+a", []),
        # A form: its pairs, decoded, as key=value arguments.
        ("k=v", ["k=v"]),
        ("k=v&x=a+b&empty&e=", ["k=v", "x=a b", "empty=", "e="]),
        ("a+b=c", ["a b=c"]),
        ("q=caf%C3%A9%26more", ["q=café&more"]),
    ],
)
def test_query_argv_is_a_search_strings_words_or_a_forms_pairs(query: str, argv: list[str]) -> None:
    assert query_argv(query) == argv


def test_query_argv_keeps_every_pair_of_a_long_form() -> None:
    # None is dropped: past the runtime's 256 the call is refused, never cut short.
    argv = query_argv("&".join(f"k{i}=v" for i in range(300)))
    assert argv == [f"k{i}=v" for i in range(300)]
