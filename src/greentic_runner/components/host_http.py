"""The http-client host import: requests only to hosts the tenant's allowlist names.

Denied by default (an empty ``network_allow``). Blocking stdlib client on the wasm thread, no
proxies from the environment, redirects only when the guest asks and only to allowed hosts,
TLS always verified (``allow-insecure`` is ignored on purpose).
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from . import scope as scopes
from .wit_values import Err, Ok, field, record

log = logging.getLogger(__name__)


def _host_error(code: str, message: str) -> Err:
    return Err(record(code=code, message=message))


class _PolicyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only when the scope's policy allows the target too."""

    def __init__(self, call: scopes.CallScope) -> None:
        self._call = call

    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        if not self._call.policy.allows_url(newurl):
            raise PermissionError(self._call.deny(f"http redirect to {urlsplit(newurl).hostname}"))
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> Any:
        return None  # the 3xx response is returned to the guest as is


def perform(
    call: scopes.CallScope,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
    timeout_ms: int | None,
    follow_redirects: bool,
) -> tuple[int, list[tuple[str, str]], bytes] | Err:
    """Do one request for the guest, or return a host-error ``Err``."""
    if not call.policy.allows_url(url):
        message = call.deny(f"http request to {urlsplit(url).hostname or repr(url)}")
        log.warning(message)
        return _host_error("denied", message)
    timeout = call.remaining()
    if timeout_ms:
        timeout = min(timeout, timeout_ms / 1000)
    if timeout <= 0:
        return _host_error("timeout", "the component's deadline has passed")
    request = urllib.request.Request(url, data=body, method=method.upper() or "GET")
    for name, value in headers:
        request.add_header(name, value)
    redirects = _PolicyRedirects(call) if follow_redirects else _NoRedirects()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), redirects)
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        response = exc  # a non-2xx status is a response, not a host error
    except PermissionError as exc:
        return _host_error("denied", str(exc))
    except TimeoutError:
        return _host_error("timeout", f"http request to {url} timed out")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return _host_error("unavailable", f"http request to {url} failed: {exc}")
    with response:
        data = response.read(call.limits.max_http_body_bytes + 1)
        if len(data) > call.limits.max_http_body_bytes:
            return _host_error(
                "too-large",
                f"response body exceeds {call.limits.max_http_body_bytes} bytes",
            )
        return response.status, list(response.headers.items()), data


def send_v1_1(req: Any, opts: Any, ctx: Any) -> Ok | Err:
    """``greentic:http/http-client@1.1.0.send(req, opts, ctx)``."""
    timeout_ms = field(opts, "timeout-ms") if opts is not None else None
    follow = bool(field(opts, "follow-redirects")) if opts is not None else False
    outcome = perform(
        scopes.current(),
        field(req, "method", "GET"),
        field(req, "url", ""),
        list(field(req, "headers", [])),
        field(req, "body"),
        timeout_ms,
        follow,
    )
    if isinstance(outcome, Err):
        return outcome
    status, headers, data = outcome
    return Ok(record(status=status, headers=headers, body=data))


def send_v1_0(req: Any, ctx: Any) -> Ok | Err:
    """``greentic:http/http-client@1.0.0.send(req, ctx)``: 1.1 with no options."""
    return send_v1_1(req, None, ctx)


def legacy_request(method: str, url: str, headers: list[str], body: bytes | None) -> Ok | Err:
    """``greentic:host/http-v1@1.0.0.request``: flat header list, body-only result."""
    pairs = list(zip(headers[0::2], headers[1::2], strict=False))
    outcome = perform(scopes.current(), method, url, pairs, body, None, False)
    if isinstance(outcome, Err):
        return Err(f"{field(outcome.value, 'code')}: {field(outcome.value, 'message')}")
    return Ok(outcome[2])
