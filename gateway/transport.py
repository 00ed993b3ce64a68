"""A lean httpx transport on an aiohttp connection pool, for the forwarding path.

Same idea as ``httpx_aiohttp.AiohttpTransport`` (httpx requests and responses, aiohttp sockets)
with what a proxy needs and nothing it pays for per request:

* the request goes out as built: headers as given (no re-normalisation into a second multidict),
  the URL already encoded (``yarl.URL(..., encoded=True)``, no re-quoting), no automatic
  ``Accept-Encoding``/``User-Agent``/``Accept``, no decompression, no cookies;
* the aiohttp timeout object is made once per distinct timeout, not per request;
* errors are mapped precisely: refused/reset connections → ``httpx.ConnectError`` /
  ``httpx.RemoteProtocolError`` (502), no answer in time → ``httpx.ReadTimeout`` /
  ``httpx.ConnectTimeout`` / ``httpx.PoolTimeout`` (504). (httpx_aiohttp maps a refused
  connection to ConnectTimeout.)

Also: :func:`fast_url`, which builds the upstream URL without httpx re-parsing a target that is
already in canonical percent-encoded form (httpx's parser costs tens of µs a request).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
import yarl

# A request target httpx would leave exactly as it is: unreserved, sub-delims, ":@/?" and
# well-formed percent escapes only.
_CANONICAL_TARGET = re.compile(rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*")


def fast_url(base: httpx.URL, target: bytes) -> httpx.URL:
    """``base`` (scheme, host, port) with path and query from the raw request ``target``.

    A target in canonical form is taken over without parsing (httpx's ``ParseResult`` is filled
    in directly); anything else (raw UTF-8, spaces …) goes through httpx's parser, which
    percent-encodes it.
    """
    reference = getattr(base, "_uri_reference", None)
    if reference is not None and _CANONICAL_TARGET.fullmatch(target) and target.startswith(b"/"):
        path, _, query = target.decode("ascii").partition("?")
        url = httpx.URL.__new__(httpx.URL)
        url._uri_reference = reference._replace(path=path, query=query or None, fragment=None)  # type: ignore[attr-defined]
        return url
    try:
        text = target.decode("ascii")
    except UnicodeDecodeError:
        text = target.decode("utf-8", "replace")
    return httpx.URL(str(base).rstrip("/") + text)


@contextlib.contextmanager
def _mapped_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:  # connecting, or waiting for a pooled connection
        raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
    except TimeoutError as exc:  # sock_read (aiohttp.SocketTimeoutError) and any other
        raise httpx.ReadTimeout("timed out", request=request) from exc
    except aiohttp.ClientConnectorError as exc:
        raise httpx.ConnectError(str(exc), request=request) from exc
    except aiohttp.ClientPayloadError as exc:
        raise httpx.ReadError(str(exc), request=request) from exc
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientResponseError) as exc:
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
    except aiohttp.ClientError as exc:
        raise httpx.TransportError(str(exc) or type(exc).__name__, request=request) from exc


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped_errors(self._request):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        # A fully read body returns the connection to the pool; a partly read one closes it.
        self._response.release()


class _RequestBody:
    """An httpx request stream as the async iterable aiohttp sends (chunked or with the
    caller's Content-Length)."""

    def __init__(self, stream: httpx.AsyncByteStream) -> None:
        self._stream = stream

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream.__aiter__()


class LeanAiohttpTransport(httpx.AsyncBaseTransport):
    """httpx transport over one aiohttp ``ClientSession`` (created lazily in the running loop).

    ``limits.max_connections`` bounds the pool; idle connections are kept ``keepalive_expiry``
    seconds. Timeouts come from the request's ``timeout`` extension as usual: connect → socket
    connect, read → each socket read (so also the wait for the response headers), pool → wait
    for a free connection.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,
                limit_per_host=0,
                keepalive_timeout=self._limits.keepalive_expiry or 15.0,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent"),
                auto_decompress=False,
            )
        return self._session

    def _timeout(self, spec: dict[str, float | None]) -> aiohttp.ClientTimeout:
        key = (spec.get("connect"), spec.get("read"), spec.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=key[0], sock_read=key[1], connect=key[2])
            self._timeouts[key] = timeout
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw if k.lower() != b"host"]
        try:
            data: Any = request.content or None
        except httpx.RequestNotRead:
            data = _RequestBody(request.stream)
            # aiohttp frames the body itself (chunked unless a Content-Length is given).
            headers = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"]
        url = yarl.URL(str(request.url), encoded=True)
        with _mapped_errors(request):
            response = await self._client().request(
                request.method, url, headers=headers, data=data, allow_redirects=False,
                timeout=self._timeout(request.extensions.get("timeout", {})),
            )
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
            await asyncio.sleep(0)  # let aiohttp close its transports
