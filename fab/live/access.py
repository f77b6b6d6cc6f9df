"""Who may open a live view: loopback by default; any other address only with a secret token in the URL.

viser serves its page and websocket on one port without any access control, so the live server always binds
viser to 127.0.0.1. For another ``--host`` a small gate listens there instead (as Jupyter does): a request
must carry ``?token=SECRET`` (the page load) or the cookie the gate set on that load (the websocket the page
opens carries no query string); everything else gets 403. The gate forwards page requests and websocket
messages to viser unchanged.
"""

from __future__ import annotations

import asyncio
import hmac
import http
import ipaddress
import secrets
import socket
import threading
import urllib.error
import urllib.request
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from fab.errors import FabError

COOKIE = "fab_live_token"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_token(host: str, token: str | None) -> str | None:
    """The token a server on ``host`` requires: None on loopback unless one is given; elsewhere the given one
    or a fresh random one. An empty token on a non-loopback host is refused."""
    if token is not None and not token.strip():
        if is_loopback(host):
            return None
        raise FabError(f"--host {host} is not a loopback address: it needs a non-empty --token")
    if is_loopback(host):
        return token
    return token or secrets.token_urlsafe(24)


def free_port(host: str) -> int:
    """A port the OS says is free on ``host`` now (the gate binds it right after)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _query_token(path: str) -> str | None:
    values = parse_qs(urlsplit(path).query).get("token")
    return values[0] if values else None


def _cookie_token(header: str | None) -> str | None:
    if not header:
        return None
    cookie = SimpleCookie()
    try:
        cookie.load(header)
    except Exception:  # noqa: BLE001 (a malformed cookie header is just no token)
        return None
    morsel = cookie.get(COOKIE)
    return morsel.value if morsel is not None else None


class TokenGate:
    """Listen on ``host:port``, check the token, forward to viser on ``127.0.0.1:inner_port``."""

    def __init__(self, host: str, port: int, inner_port: int, token: str) -> None:
        self.host, self.port, self.inner_port, self.token = host, port, inner_port, token
        self.refused = 0  # requests turned away (for tests and the page's status)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fab-live-gate", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10.0)
        if self._error is not None:
            raise FabError(f"cannot listen on {self.host}:{self.port}: {self._error}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=5.0)

    def _allowed(self, request) -> tuple[bool, bool]:
        """(allowed, came with the query token: set the cookie)."""
        given = _query_token(request.path)
        if given is not None and hmac.compare_digest(given, self.token):
            return True, True
        cookie = _cookie_token(request.headers.get("Cookie"))
        return cookie is not None and hmac.compare_digest(cookie, self.token), False

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 (reported to start())
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.asyncio.server import serve
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        inner = f"127.0.0.1:{self.inner_port}"

        def fetch(path: str, encoding: str) -> tuple[int, bytes, dict[str, str]]:
            req = urllib.request.Request(f"http://{inner}{path}", headers={"Accept-Encoding": encoding})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 (loopback only)
                    return r.status, r.read(), dict(r.headers)
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read(), dict(exc.headers)

        async def process_request(connection, request):
            allowed, set_cookie = self._allowed(request)
            if not allowed:
                self.refused += 1
                body = b"403: this live view needs its token: open the URL the server printed (?token=...)\n"
                return Response(
                    http.HTTPStatus.FORBIDDEN,
                    "Forbidden",
                    Headers({"Content-Type": "text/plain", "Content-Length": str(len(body))}),
                    body,
                )
            if request.headers.get("Upgrade", "").lower() == "websocket":
                return None
            status, body, headers = await asyncio.to_thread(
                fetch, request.path, request.headers.get("Accept-Encoding", "identity")
            )
            out = Headers(
                {
                    k: v
                    for k, v in headers.items()
                    if k in ("Content-Type", "Content-Encoding", "Content-Length")
                }
            )
            if set_cookie:
                out["Set-Cookie"] = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            return Response(status, http.HTTPStatus(status).phrase, out, body)

        async def forward(client) -> None:
            protocols = [client.subprotocol] if client.subprotocol else None
            async with connect(
                f"ws://{inner}", subprotocols=protocols, max_size=None, compression=None
            ) as upstream:

                async def pump(src, dst) -> None:
                    async for message in src:
                        await dst.send(message)

                tasks = [
                    asyncio.create_task(pump(client, upstream)),
                    asyncio.create_task(pump(upstream, client)),
                ]
                try:
                    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for t in tasks:
                        t.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)

        async with serve(
            forward,
            self.host,
            self.port,
            process_request=process_request,
            max_size=None,
            compression=None,
            select_subprotocol=lambda _conn, offered: next(iter(offered), None),
        ):
            self._ready.set()
            await self._stop.wait()
