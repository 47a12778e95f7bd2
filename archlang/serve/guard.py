"""Who may talk to the playground: an ASGI middleware in front of every route.

- **Host**: only the loopback names and the address it was told to listen on
  (an IP literal when it listens on every interface). A web page that makes
  its own domain resolve to 127.0.0.1 (DNS rebinding) sends its own name and
  is refused.
- **Origin**: a browser's cross-site request carries the other site's origin
  and is refused; requests without one (curl, tests) are not browser-made.
- **Token**: the page and the API need the secret of this run, from the
  address `archlang serve` prints (it becomes a SameSite cookie) or from an
  `X-Archlang-Token` header. Other users of the machine can reach a loopback
  port too; they cannot read the token. The static assets and the error
  reference are public.
- Every answer forbids sniffing and referrers; the page's content policy
  allows scripts, styles and connections to this server only, so nothing the
  page shows can load or send anything elsewhere.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

from archlang.serve.protocol import refusal

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
PUBLIC = ("/static/", "/errors", "/favicon.ico")


def _host_name(host: str) -> str:
    """`[::1]:8040` -> `::1`, `localhost:8040` -> `localhost`."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


class Guard:
    def __init__(self, app, token: str, bind_host: str, cookie: str):
        self.app, self.token, self.cookie = app, token, cookie
        self.any_interface = bind_host in ("0.0.0.0", "::", "")
        self.hosts = LOOPBACK | {_host_name(bind_host.lower())}

    def host_ok(self, host: str) -> bool:
        name = _host_name(host.lower())
        return name in self.hosts or (self.any_interface and _is_ip(name))

    def origin_ok(self, origin: str | None, host: str) -> bool:
        if origin is None:
            return True
        return origin.lower() == f"http://{host.lower()}"

    def token_ok(self, headers: dict, query: str) -> bool:
        given = headers.get("x-archlang-token")
        if given is None and "cookie" in headers:
            morsel = SimpleCookie(headers["cookie"]).get(self.cookie)
            given = morsel.value if morsel else None
        if given is None:
            given = (parse_qs(query).get("token") or [None])[0]
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host, path = headers.get("host", ""), scope["path"]
        if not self.host_ok(host):
            return await _refuse(send, path, 421, "this server answers to its own address only (a request for "
                                                  "another host name is how DNS rebinding attacks)")
        if not self.origin_ok(headers.get("origin"), host):
            return await _refuse(send, path, 403, "a request from another site")
        if not path.startswith(PUBLIC) and not self.token_ok(headers, scope.get("query_string", b"").decode()):
            return await _refuse(send, path, 403, "open the address that `archlang serve` printed: it carries "
                                                  "the token of this run")

        async def secured(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + [
                    (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                    (b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY")]
            await send(message)
        await self.app(scope, receive, secured)


async def _refuse(send, path: str, status: int, text: str) -> None:
    """Plain text for a person; for the API, an E907 error the page shows like any other."""
    if path.startswith("/api/"):
        body = json.dumps(refusal("E907", f"refused: {text}")).encode()
        kind = b"application/json"
    else:
        body, kind = f"refused: {text}\n".encode("utf-8"), b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                            (b"x-content-type-options", b"nosniff")]})
    await send({"type": "http.response.body", "body": body})
