"""The per-key rate limit of the partner routes, counted directly on the limiter's storage.

Every partner-keyed blueprint (``routes.partner_blueprint``) counts in one allowance per API key,
whichever route is called. Partners' schedulers call ``/api/profiles`` all day, and
Flask-Limiter's per-request work (resolving the blueprint's dynamic limit, parsing the limit
string, its exemption scopes, its headers) was a third of the gateway's CPU for a poll (0.8 of
2.5 ms a request, in-process, measured by turning it off). This counts the same limit on the same
storage (this process's windows for ``memory://``, the limiter's own strategy on Redis, shared by
every process), with the same key (the API key id), and answers the same way: the caller is
authenticated first (an unknown key is a 401, never a 429), each limit of the partner's
``rate_limit`` (else ``EKYC_RATE_LIMIT``) is hit, a refusal is a 429 problem whose
``Retry-After`` is what is left of the window, and every answer carries ``X-RateLimit-Limit``,
``-Remaining`` and ``-Reset`` of the tightest limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from functools import lru_cache, partial, wraps

from flask import Blueprint, Flask, Response, g, request
from flask.sansio.blueprints import BlueprintSetupState
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage

from gateway.auth import current_principal, limiter, partner_rate_limit, rate_limit_bucket
from gateway.errors import RateLimited


@lru_cache(maxsize=256)
def limits_of(text: str) -> tuple[RateLimitItem, ...]:
    """The limits a limit string names (``"100/minute;2000/hour"``), parsed once per string."""
    return tuple(parse_many(text))


class ProcessWindows:
    """Fixed windows counted in this process, for ``memory://`` storage (one gateway process).

    ``limits``' MemoryStorage starts a timer thread to expire keys whenever the last one has
    finished (10 ms), so under load every few requests waited for a thread to start: 5.7 ms of
    a poll under cProfile at load 14. Here a window simply restarts when a hit finds it over.
    """

    MAX_KEYS = 10_000  # past this, expired windows are dropped

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str, str], tuple[float, int]] = {}

    def hit(self, item: RateLimitItem, scope: str, key: str) -> tuple[bool, int, float]:
        """Count one request: ``(allowed, remaining, window reset epoch)``."""
        now = time.time()
        name = (scope, key, item.key_for())
        with self._lock:
            reset_at, count = self._windows.get(name, (0.0, 0))
            if now >= reset_at:
                reset_at, count = now + item.get_expiry(), 0
            if count >= item.amount:
                return False, 0, reset_at
            self._windows[name] = (reset_at, count + 1)
            if len(self._windows) > self.MAX_KEYS:
                for stale in [n for n, (ends, _) in self._windows.items() if now >= ends]:
                    del self._windows[stale]
        return True, item.amount - count - 1, reset_at


_process_windows = ProcessWindows()


def _hit(item: RateLimitItem, scope: str, key: str) -> tuple[bool, int, float]:
    """One hit on the limiter's storage: this process's windows for memory://, else (Redis,
    shared by every process) the limiter's own strategy."""
    if isinstance(limiter.storage, MemoryStorage):
        return _process_windows.hit(item, scope, key)
    strategy = limiter.limiter
    allowed = strategy.hit(item, scope, key)
    stats = strategy.get_window_stats(item, scope, key)
    return allowed, stats.remaining, stats.reset_time


def count_request(scope: str) -> None:
    """Hit every limit of the caller's key in ``scope``; ``RateLimited`` when one is used up."""
    if not limiter.enabled:
        return
    text = partner_rate_limit()  # authenticates the caller first
    # What rate_limit_key() answers once the caller is known, without re-reading and
    # re-splitting the header.
    key = rate_limit_bucket(current_principal().key_id)
    tightest: tuple[int, int, float] | None = None
    for item in limits_of(text):
        allowed, remaining, reset_time = _hit(item, scope, key)
        if not allowed:
            wait_s = max(1, math.ceil(reset_time - time.time()))
            raise RateLimited(
                f"Rate limit of {item} exceeded", headers={"Retry-After": str(wait_s)}
            )
        if tightest is None or remaining < tightest[1]:
            tightest = (item.amount, remaining, reset_time)
    if tightest is not None:
        g.rate_limit_headers = {
            "X-RateLimit-Limit": str(tightest[0]),
            "X-RateLimit-Remaining": str(tightest[1]),
            "X-RateLimit-Reset": str(math.ceil(tightest[2])),
        }


LEAN_BLUEPRINTS = "ekyc_lean_limit_blueprints"  # app.extensions key: the names counted here


def _is_flask_limiter_hook(hook: Callable[..., object]) -> bool:
    """Whether ``hook`` is one of the app-wide hooks ``limiter.init_app`` registered."""
    if getattr(hook, "__self__", None) is limiter:
        return True
    return isinstance(hook, partial) and hook.args[:1] == (limiter,)


def spare_from_flask_limiter(app: Flask, blueprint: str) -> None:
    """Make Flask-Limiter's app-wide before-request, after-request and teardown hooks return at
    once for ``blueprint``'s requests, which ``count_request`` limits instead.

    Its request filter alone (kept below, so nothing is double counted if this never runs) still
    lets its hooks look up its request context, endpoint and exemptions on every poll before
    skipping it: ~0.1-0.2 ms of a ~2 ms poll in-process (cProfile, and with the hooks removed).
    Its after-request hook adds headers only for a limit it checked, so for these requests it
    had nothing to add, and its teardown resets a per-request state that only its hooks fill
    (building that state just to reset it was 5 % of a 304's CPU in-process, cProfile). Needs
    ``limiter.init_app(app)`` to have run (``create_app`` calls it before registering
    blueprints); if not, nothing is wrapped and the filter still skips them.
    """
    spared: set[str] | None = app.extensions.get(LEAN_BLUEPRINTS)
    if spared is None:
        spared = app.extensions[LEAN_BLUEPRINTS] = set()

        def sparing_before(hook: Callable[[], object]) -> Callable[[], object]:
            @wraps(hook)
            def before() -> object:
                return None if request.blueprint in spared else hook()

            return before

        def sparing_after(hook: Callable[[Response], Response]) -> Callable[[Response], Response]:
            def after(response: Response) -> Response:
                return response if request.blueprint in spared else hook(response)

            return after

        def sparing_teardown(
            hook: Callable[[BaseException | None], None],
        ) -> Callable[[BaseException | None], None]:
            def teardown(error: BaseException | None = None) -> None:
                if request.blueprint not in spared:
                    hook(error)

            return teardown

        for hooks, spare in (
            (app.before_request_funcs, sparing_before),
            (app.after_request_funcs, sparing_after),
            (app.teardown_request_funcs, sparing_teardown),
        ):
            app_wide = hooks.get(None, [])
            hooks[None] = [spare(h) if _is_flask_limiter_hook(h) else h for h in app_wide]
    spared.add(blueprint)


# Every partner-keyed blueprint counts in this one scope: the limit is the API key's, whichever
# route it calls (README: "per-API-key limit"). Counted per route, as Flask-Limiter counts a
# blueprint's limit, a partner had its allowance once for each of ~40 endpoints.
PARTNER_SCOPE = "partner-api"
_counted_blueprints: set[str] = set()


@limiter.request_filter
def _counted_here() -> bool:
    # Flask-Limiter's own check skips these requests before resolving any limit: marking the
    # blueprints exempt alone still cost it ~0.8 ms a request (cProfile) to find out.
    return request.blueprint in _counted_blueprints


def limit_blueprint(bp: Blueprint) -> None:
    """Count every request to ``bp`` against the caller's per-key limit, shared with every other
    partner blueprint (``PARTNER_SCOPE``)."""
    _counted_blueprints.add(bp.name)

    @bp.record_once
    def _spare(state: BlueprintSetupState) -> None:
        spare_from_flask_limiter(state.app, bp.name)

    @bp.before_request
    def _count() -> None:
        count_request(PARTNER_SCOPE)

    @bp.after_request
    def _headers(response: Response) -> Response:
        response.headers.update(g.get("rate_limit_headers") or {})
        return response
