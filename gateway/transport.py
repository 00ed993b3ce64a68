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

And :class:`H1Pool`, the forwarding path's own HTTP/1.1 client (setting ``proxy_transport="h1"``,
the default): keep-alive connections as asyncio protocols with httptools' (llhttp) response
parser, driven by the raw ASGI fast path of :mod:`gateway.proxy`. A request goes out as one
socket write of bytes the proxy built from the ASGI scope; the response's headers and body come
back as the parser's callbacks deliver them — no httpx or aiohttp request/response objects, no
header multidicts, no URL objects per request. Measured with ``tests/bench/bench_gateway.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httptools
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


_ANY_BASE = httpx.URL("http://upstream")


def upstream_target(target: bytes) -> bytes:
    """The request target to send upstream: as received when canonical (the usual case, no
    parsing), else percent-encoded as httpx would (a client that sent raw UTF-8)."""
    if target.startswith(b"/") and _CANONICAL_TARGET.fullmatch(target):
        return target
    return fast_url(_ANY_BASE, target).raw_path


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


# --- the forwarding path's own HTTP/1.1 client ------------------------------------------------


class UpstreamUnavailable(Exception):
    """The upstream refused or dropped the connection before answering (the caller gets 502)."""


class UpstreamTimeout(Exception):
    """No connection in time (``connect``, ``pool``) or no answer in time (``read``): 504."""


# A body buffered beyond this (the caller reads slower than the upstream writes) pauses reading
# from the upstream until the proxy has passed it on.
_READ_HIGH_WATER = 256 * 1024


class H1Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection to an upstream, one exchange at a time.

    Per exchange (:meth:`begin`): a fresh httptools response parser; ``status`` and ``headers``
    (lower-case names, as received) once the head is parsed; body ``chunks`` as they arrive;
    ``complete`` when the message ended. ``error`` holds why the exchange failed.
    """

    def __init__(self, pool: H1Pool) -> None:
        self._pool = pool
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.counted = True  # held against the pool's connection limit
        self.reused = False
        self.idle_since = 0.0
        self._parser: Any = None
        self._head_only = False
        self._interim = False
        self._until_eof = False
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._write_paused = False
        self._read_paused = False
        self._buffered = 0
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.received = False
        self.error: BaseException | None = None

    # -- exchange ---------------------------------------------------------------------------

    def begin(self, *, head_only: bool) -> None:
        """Reset for a new exchange; ``head_only`` for HEAD (the answer has no body)."""
        self._parser = httptools.HttpResponseParser(self)
        self._head_only = head_only
        self._interim = self._until_eof = False
        self._buffered = 0
        self.status = 0
        self.headers = []
        self.chunks = []
        self.headers_done = self.complete = self.keep_alive = self.received = False
        self.error = None

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait while the socket's write buffer is full (a large request body the upstream reads
        slowly); :class:`UpstreamTimeout` after ``timeout`` seconds without progress."""
        if self.closed:
            raise UpstreamUnavailable("the upstream closed the connection")
        if self._write_paused:
            self._drain = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await self._drain
            except TimeoutError:
                raise UpstreamTimeout("write") from None
            finally:
                self._drain = None
            if self.closed:
                raise UpstreamUnavailable("the upstream closed the connection")

    async def wait(self, timeout: float | None) -> None:
        """Wait for the next event of the exchange (head, body bytes, end or failure)."""
        if self.error is not None or self.complete:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, self._time_out, waiter) if timeout else None
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    async def head(self, timeout: float | None) -> None:
        """Wait for the response head (status and headers); raises what went wrong."""
        while not self.headers_done:
            await self.wait(timeout)
            if self.error is not None:
                raise self.error

    def take(self) -> bytes:
        """The body bytes received and not yet taken."""
        chunks = self.chunks
        self.chunks = []
        self._buffered = 0
        if self._read_paused and self.transport is not None and not self.closed:
            self._read_paused = False
            self.transport.resume_reading()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _time_out(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            self.error = UpstreamTimeout("read")
            waiter.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self.error is None and not self.complete:
            self.error = error
        self._wake()

    def abort(self) -> None:
        """Drop the connection at once (a failed or unfinished exchange)."""
        self.closed = True
        self._pool.forget(self)
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None or self.complete:
            # Bytes nobody asked for: this connection's framing cannot be trusted any more.
            self.abort()
            return
        self.received = True
        try:
            parser.feed_data(data)
        except Exception as exc:  # noqa: BLE001 - httptools' parse errors, an upgrade
            self._fail(UpstreamUnavailable(f"malformed response: {type(exc).__name__}"))
            self.abort()

    def eof_received(self) -> bool | None:
        # The upstream closed its side (uvicorn does after an unhandled exception's 500, or after
        # answering ``Connection: close``). connection_lost only follows on a later turn of the
        # loop: until then this connection must not be handed out again, so it leaves the pool now.
        self.closed = True
        self._pool.forget(self)
        return None  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._pool.forget(self)
        if self._parser is not None and not self.complete:
            if self.headers_done and self._until_eof and self.error is None:
                self._finish()  # a body delimited by the end of the connection
            else:
                self._fail(UpstreamUnavailable("the upstream closed the connection"))
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    # -- httptools callbacks ----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            # An interim answer (103 Early Hints …; 101 is never asked for: Upgrade is dropped).
            self._interim = True
            self.headers = []
            return
        self.status = status
        self.headers_done = True
        # False when the answer says ``Connection: close`` (llhttp reads it): the connection is
        # dropped on release instead of going back to the pool.
        self.keep_alive = self._parser.should_keep_alive() and not self._head_only
        if self._head_only:
            self._finish()  # llhttp would wait for the body a HEAD answer announces but never has
        elif status not in (204, 304):
            framed = False
            for name, value in self.headers:
                if name == b"content-length" or (name == b"transfer-encoding" and b"chunked" in value.lower()):
                    framed = True
                    break
            self._until_eof = not framed
            if self._until_eof:
                self.keep_alive = False
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _READ_HIGH_WATER and not self._read_paused and self.transport is not None:
            self._read_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if not self.complete:
            self._finish()

    def _finish(self) -> None:
        self.complete = True
        self._parser = None if self._head_only else self._parser
        self._wake()


class H1Pool:
    """Keep-alive HTTP/1.1 connections to one upstream (``http://`` or ``https://`` base URL).

    At most ``max_connections`` open at once (more callers wait up to ``pool_timeout`` for one:
    504 ``pool`` after that); up to ``max_keepalive`` idle ones are kept, each for at most
    ``keepalive_expiry`` seconds, the most recently used first. Connecting is bounded by
    ``connect_timeout`` (504); a refused connection is :class:`UpstreamUnavailable` (502).
    """

    def __init__(
        self, base_url: str, *, max_connections: int, max_keepalive: int, keepalive_expiry: float,
        connect_timeout: float, pool_timeout: float,
    ) -> None:
        url = httpx.URL(base_url)
        self.scheme = url.scheme
        self.host = url.host
        self.port = url.port or (443 if url.scheme == "https" else 80)
        default_port = 443 if url.scheme == "https" else 80
        authority = url.host if ":" not in url.host else f"[{url.host}]"
        self.host_header = (authority if self.port == default_port else f"{authority}:{self.port}").encode("ascii")
        self.max_connections = max_connections
        self.max_keepalive = max_keepalive
        self.keepalive_expiry = keepalive_expiry
        self.connect_timeout = connect_timeout
        self.pool_timeout = pool_timeout
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if url.scheme == "https" else None
        self._idle: list[H1Connection] = []
        self._count = 0
        self._waiters: list[asyncio.Future[H1Connection | None]] = []
        self._closed = False

    async def acquire(self, *, fresh: bool = False) -> H1Connection:
        """A connection ready for an exchange: an idle one, a new one, or the next one released.

        ``fresh``: not an idle one (a retry after a pooled connection turned out closed: the other
        idle ones may be as stale); when the pool is full, an idle connection is closed to make
        room rather than waited for."""
        idle = self._idle
        now = time.monotonic()
        if fresh:
            if self._count >= self.max_connections and idle:
                idle.pop(0).abort()  # the oldest; abort() forgets it, which frees its place
            idle = []
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            if now - conn.idle_since > self.keepalive_expiry:
                conn.abort()
                continue
            conn.reused = True
            return conn
        if self._closed:
            raise UpstreamUnavailable("the gateway is shutting down")
        if self._count < self.max_connections:
            return await self._connect()
        waiter: asyncio.Future[H1Connection | None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.pool_timeout):
                conn = await waiter
        except BaseException as exc:
            handed = waiter.done() and not waiter.cancelled()
            if handed and isinstance(exc, TimeoutError):
                conn = waiter.result()  # handed over just as the time ran out: take it
            else:
                if handed:  # handed over, but this caller is gone: pass it on
                    self._pass_on(waiter.result())
                if isinstance(exc, TimeoutError):
                    raise UpstreamTimeout("pool") from None
                raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        if conn is None:  # a connection was closed: there is room for a new one
            return await self._connect()
        conn.reused = True
        return conn

    async def _connect(self) -> H1Connection:
        self._count += 1
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: H1Connection(self), self.host, self.port, ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None,
                )
        except BaseException as exc:
            self._count -= 1
            self._pass_on(None)
            if isinstance(exc, TimeoutError):
                raise UpstreamTimeout("connect") from None
            if isinstance(exc, OSError):
                raise UpstreamUnavailable(f"{type(exc).__name__}: {exc}") from None
            raise
        return conn

    def release(self, conn: H1Connection) -> None:
        """Give back a connection after its exchange; kept only if that ended cleanly."""
        if conn.closed:
            return
        if not (conn.complete and conn.keep_alive and conn.error is None) or self._closed:
            conn.abort()
            return
        conn._parser = None  # noqa: SLF001 - idle: any byte arriving now is a protocol error
        self._pass_on(conn)

    def _pass_on(self, conn: H1Connection | None) -> None:
        """Hand a free connection (or, None, room for a new one) to the first waiting caller;
        with nobody waiting, an idle connection joins the idle list (or is closed if it is full)."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(conn)
                return
        if conn is None:
            return
        if len(self._idle) >= self.max_keepalive:
            conn.abort()
            return
        conn.idle_since = time.monotonic()
        self._idle.append(conn)

    def forget(self, conn: H1Connection) -> None:
        """A connection is closed: no longer idle, no longer counted against the limit."""
        if conn.counted:
            conn.counted = False
            self._count -= 1
            with contextlib.suppress(ValueError):
                self._idle.remove(conn)
            self._pass_on(None)

    async def aclose(self) -> None:
        self._closed = True
        for conn in list(self._idle):
            conn.abort()
        self._idle.clear()
        await asyncio.sleep(0)
