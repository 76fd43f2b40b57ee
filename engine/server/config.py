"""What the speech server is allowed to do: address, limits, key, CORS; checked once before it starts."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..errors import ServerError

LOOPBACK_NAMES = ("localhost",)
# Host headers a loopback server answers. Anything else is a DNS-rebinding page pretending to be us: a site
# whose name now resolves to 127.0.0.1 would otherwise be same-origin with the server and could use it.
LOOPBACK_HOST_HEADERS = ("127.0.0.1", "localhost", "[::1]")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; any other name or address may be reachable from outside."""
    if host.strip().lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerConfig:
    """Everything :func:`engine.server.create_app` and :class:`engine.server.SpeechServer` need besides the engine.

    max_input_chars: longest ``input`` accepted (OpenAI's limit is 4096); longer is 413.
    queue_depth: requests waiting behind the one being spoken; one more is 429.
    api_key: required as ``Authorization: Bearer KEY`` when set; must be set unless ``host`` is loopback.
    cors_origins: origins a browser page may call from (empty: no CORS headers, browsers refuse cross-origin).
    allowed_hosts: Host headers accepted; None: the loopback names on a loopback address, any otherwise.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    max_input_chars: int = 4096
    queue_depth: int = 8
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] | None = None
    log_level: str = "warning"

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ServerError(f"Port {self.port!r} is not a TCP port; use 1-65535 (or 0 for any free port).")
        if self.max_input_chars < 1:
            raise ServerError("The maximum input length must be at least 1 character.")
        if self.queue_depth < 0:
            raise ServerError("The queue depth cannot be negative (0 serves one request at a time, no waiting).")
        if self.api_key is not None and not self.api_key.strip():
            raise ServerError("The API key is empty; give a real key or none.")
        if not is_loopback(self.host) and not self.api_key:
            raise ServerError(f"Listening on {self.host} makes the server reachable from other machines, so it "
                              "needs an API key: set TIMBRE_API_KEY or pass --api-key-file FILE (or use "
                              "--host 127.0.0.1).")
        if "*" in self.cors_origins and self.api_key is None:
            raise ServerError("CORS for every origin ('*') without an API key lets any web page use the server; "
                              "name the origins or set an API key.")

    @property
    def trusted_hosts(self) -> tuple[str, ...]:
        """The Host headers accepted (``("*",)``: any)."""
        if self.allowed_hosts is not None:
            return self.allowed_hosts
        return LOOPBACK_HOST_HEADERS if is_loopback(self.host) else ("*",)
