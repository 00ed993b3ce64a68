"""One pooled HTTP client per upstream service, with explicit limits and timeouts.

The suite speaks httpx everywhere; under the forwarding path the transport is chosen by
measurement (``tests/bench/bench_gateway.py``, setting ``proxy_transport``): ``h1`` (the
default: :class:`gateway.transport.H1Pool`, the proxy's own HTTP/1.1 connections, no httpx
objects per request), ``aiohttp-lean`` (:class:`gateway.transport.LeanAiohttpTransport`),
``aiohttp`` (httpx_aiohttp.AiohttpTransport) or ``httpx`` (httpx's own httpcore pool, an order of
magnitude slower here under concurrency). Each upstream has its own pool, so a slow service
cannot starve the connections of the others. The httpx client (``aiohttp-lean`` under ``h1``)
also fetches the upstream's OpenAPI document and pushes clock settings.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
from dataclasses import dataclass

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from gateway.config import Settings
from gateway.transport import H1Pool, LeanAiohttpTransport


class _RejectAllCookies(http.cookiejar.DefaultCookiePolicy):
    """The pooled clients are shared by every caller: never keep a Set-Cookie of one for another."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:  # noqa: ARG002
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: object) -> bool:  # noqa: ARG002
        return False


@dataclass
class Upstream:
    """A service behind the gateway: ``name`` (the path segment), ``base_url`` (no trailing
    slash), its ``client`` (owning ``transport``) and the forwarding ``timeout``."""

    name: str
    base_url: str
    client: httpx.AsyncClient
    transport: httpx.AsyncBaseTransport
    timeout: dict[str, float]
    url: httpx.URL  # base_url parsed once
    pool: H1Pool | None = None  # the forwarding path's connections (proxy_transport "h1")

    @property
    def read_timeout(self) -> float | None:
        """Seconds to wait for the answer's head (and then for each part of its body)."""
        return self.timeout.get("read")


def make_transport(settings: Settings) -> httpx.AsyncBaseTransport:
    """A fresh connection pool of the configured kind (``settings.proxy_transport``)."""
    limits = httpx.Limits(
        max_connections=settings.upstream_max_connections,
        max_keepalive_connections=settings.upstream_max_keepalive,
        keepalive_expiry=30.0,
    )
    if settings.proxy_transport in ("h1", "aiohttp-lean"):
        return LeanAiohttpTransport(limits)
    if settings.proxy_transport == "aiohttp":
        # aiohttp keeps every connection of the pool alive (there is no separate keep-alive
        # cap), so the pool is bounded by max_connections; DNS results are cached per pool.
        connector_limits = {"limit": settings.upstream_max_connections, "limit_per_host": 0}

        def session() -> aiohttp.ClientSession:
            connector = aiohttp.TCPConnector(keepalive_timeout=30.0, ttl_dns_cache=300, **connector_limits)
            # auto_decompress=False is set per request by the transport: bytes are relayed raw.
            # No automatic Accept-Encoding (and Accept, User-Agent): only what the caller sent
            # goes upstream, or a gzip body could reach a caller that never asked for one.
            return aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent"),
            )

        return AiohttpTransport(limits=limits, client=session)
    return httpx.AsyncHTTPTransport(limits=limits, retries=0)


def make_upstreams(settings: Settings) -> dict[str, Upstream]:
    """One :class:`Upstream` per entry of ``settings.upstreams``."""
    timeout = httpx.Timeout(
        settings.upstream_timeout_seconds,
        connect=settings.upstream_connect_timeout_seconds,
        pool=settings.upstream_connect_timeout_seconds,
    )
    out: dict[str, Upstream] = {}
    for name, url in settings.upstreams.items():
        transport = make_transport(settings)
        client = httpx.AsyncClient(base_url=url, transport=transport, timeout=timeout, trust_env=False)
        client.cookies.jar = http.cookiejar.CookieJar(policy=_RejectAllCookies())
        pool = None
        if settings.proxy_transport == "h1":
            pool = H1Pool(
                url, max_connections=settings.upstream_max_connections,
                max_keepalive=settings.upstream_max_keepalive, keepalive_expiry=30.0,
                connect_timeout=settings.upstream_connect_timeout_seconds,
                pool_timeout=settings.upstream_connect_timeout_seconds,
            )
        out[name] = Upstream(name, url, client, transport, timeout.as_dict(), httpx.URL(url), pool)
    return out


def is_timeout(exc: httpx.TransportError) -> bool:
    """Whether an upstream did not answer in time (504) rather than not at all (502).

    httpx_aiohttp maps every aiohttp connection error (a refused connection too) to
    ConnectTimeout, so the aiohttp exception it chains decides when there is one.
    """
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return isinstance(cause, TimeoutError)
    return isinstance(exc, httpx.TimeoutException)


async def close_upstreams(upstreams: dict[str, Upstream]) -> None:
    pools = [u.pool.aclose() for u in upstreams.values() if u.pool is not None]
    await asyncio.gather(*(u.client.aclose() for u in upstreams.values()), *pools, return_exceptions=True)
