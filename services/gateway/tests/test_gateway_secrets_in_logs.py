"""No token or secret ever reaches a log line.

Every path that handles a credential runs here with every logger at DEBUG and the
access log on — user and token creation, whoami, a publish and a route call with a
token, a bad token, failed authentications past their limit, a token revoked, a role
changed with a token issued, a route with auth — and then no record (message,
arguments, extra fields, traceback) of the gateway or the marketplace, both in this
process, holds any secret that was sent or issued, nor the bootstrap admin's.
"""

from __future__ import annotations

import logging
import secrets as secrets_module
from typing import Any

import pytest

from .conftest import Infra, StartGateway, bearer

ROUTES = """
routes:
  - name: private
    path: /private
    module: examples/hello
    middleware:
      - auth: {scopes: [publish]}
"""


def _texts(record: logging.LogRecord) -> list[str]:
    texts = [record.getMessage(), record.exc_text or "", record.stack_info or ""]
    texts += [repr(value) for value in vars(record).values()]
    if record.exc_info and record.exc_info[1] is not None:
        texts.append(repr(record.exc_info[1]))
    return texts


@pytest.mark.integration
async def test_no_token_or_secret_reaches_a_log_line(
    start_gateway: StartGateway, infra: Infra, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gw = await start_gateway(ROUTES, access_log=True, auth_failures_per_minute=2)
    http, url = gw.http, gw.url
    secrets = [infra.admin]
    user = "logsafe" + secrets_module.token_hex(4)
    async with http.post(url("/v1/users"), json={"username": user}) as resp:
        assert resp.status == 201
        erin = (await resp.json())["secret"]
    secrets.append(erin)
    async with http.post(
        url("/v1/tokens"), json={"name": "ci", "scopes": ["publish"]}, headers=bearer(erin)
    ) as resp:
        assert resp.status == 201
        created: dict[str, Any] = await resp.json()
    second = created["secret"]
    secrets.append(second)
    async with http.get(url("/v1/whoami"), headers=bearer(second)) as resp:
        assert resp.status == 200
    async with http.put(
        url(f"/v1/modules/{user}/echo/1.0.0?license=MIT&category=utilities&description=Echo"),
        data=infra.modules["hello"],
        headers={**bearer(second), "Content-Type": "application/wasm"},
    ) as resp:
        assert resp.status == 201, await resp.text()
    async with http.post(url("/private"), data=b"hi", headers=bearer(erin)) as resp:
        assert resp.status == 200
    async with http.put(
        url(f"/v1/users/{user}/role"),
        json={"role": "user", "issue_token": True},
        headers=bearer(infra.admin),
    ) as resp:
        assert resp.status == 200, await resp.text()
        secrets.append((await resp.json())["secret"])
    token_id = created["token"]["id"]
    async with http.delete(url(f"/v1/tokens/{token_id}"), headers=bearer(erin)) as resp:
        assert resp.status == 200
    bad = "wgt_" + "Q" * 43
    secrets.append(bad)
    for path in ("/v1/whoami", "/private", "/v1/whoami", "/v1/whoami"):
        async with http.get(url(path), headers=bearer(bad)) as resp:
            assert resp.status in (401, 405, 429)
    async with http.get(url("/v1/whoami"), headers=bearer(second)) as resp:
        assert resp.status in (401, 429)  # revoked, or this address is blocked by now

    assert caplog.records, "nothing was logged: the test would prove nothing"
    for record in caplog.records:
        for text in _texts(record):
            for secret in secrets:
                assert secret not in text, f"{record.name}: a secret in {text[:200]!r}"
                # Nor the part after the prefix (a token cut or re-encoded).
                assert secret[4:24] not in text, f"{record.name}: part of a secret logged"
