"""A chat request's routing policy, from its ``model`` (``router:lambda=0.3``) or its ``routing`` object.

``model`` is ``"router"`` (the gateway's default policy), ``"router:lambda=X"`` /
``"router:budget=X"``, or a pool model's own name (passed straight through, no routing). A
``routing`` object in the body sets the policy of a ``"router"`` request instead:
``{"model": "router", "routing": {"lambda": 0.3}}`` or ``{"routing": {"budget": 0.002}}``, with the
same checks as the model-name form (λ a finite number in [0, 1], a budget a finite number >= 0).
Exactly one key; an unknown key, both keys, a non-number, a ``routing`` object beside a pool model
or beside ``router:KEY=VALUE`` (the policy set twice) is a 400 ``invalid_policy`` naming the key.
``"routing": null`` is as if absent. The ``routing`` key is never forwarded upstream.
"""

from __future__ import annotations

import math
from typing import Any

from routerlab.serve.pool import Pool
from routerlab.serve.routing import PolicySpec

__all__ = ["POLICY_KEYS", "ROUTER_MODEL", "GatewayError", "parse_model", "request_policy"]

#: the ``model`` a client sends to be routed
ROUTER_MODEL = "router"
#: the keys a ``router:KEY=VALUE`` model name or a ``routing`` object may set
POLICY_KEYS = ("lambda", "budget")


class GatewayError(Exception):
    """A request the gateway refuses: an HTTP status and an OpenAI-format error body."""

    def __init__(
        self, status: int, message: str, *, kind: str = "invalid_request_error", param: str | None = None, code: str
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        """``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def _invalid(message: str, param: str) -> GatewayError:
    return GatewayError(400, message, param=param, code="invalid_policy")


def _spec(key: str, value: float, *, written: str, param: str) -> PolicySpec:
    """The policy ``key = value``; ``written`` is how the client wrote the key (in the error)."""
    if not math.isfinite(value):
        raise _invalid(f"{written} needs a finite number; got {value!r}.", param)
    if key == "lambda":
        if not 0.0 <= value <= 1.0:
            raise _invalid(f"lambda must be in [0, 1] (0 = quality only, 1 = cost only); got {value:g}.", param)
        return PolicySpec(lam=value)
    if value < 0:
        raise _invalid(f"budget must be >= 0 (a cost per query); got {value:g}.", param)
    return PolicySpec(budget=value)


def parse_model(model: Any, pool: Pool, default_lambda: float) -> PolicySpec | str:
    """The request's policy (routed) or the pool model it names (passed through); a GatewayError otherwise."""
    if not isinstance(model, str) or not model:
        raise GatewayError(400, "'model' must be a non-empty string.", param="model", code="invalid_model")
    if model in pool.names:
        return model
    if model == ROUTER_MODEL:
        return PolicySpec(lam=default_lambda)
    if not model.startswith(ROUTER_MODEL + ":"):
        raise GatewayError(
            404,
            f"The model {model!r} does not exist here. Use {ROUTER_MODEL!r}, 'router:lambda=0.3', "
            f"'router:budget=0.002' or a pool model: {list(pool.names)}.",
            param="model",
            code="model_not_found",
        )
    key, sep, raw = model[len(ROUTER_MODEL) + 1 :].partition("=")
    if not sep or key not in POLICY_KEYS:
        raise _invalid(
            f"Unknown routing policy {model[len(ROUTER_MODEL) + 1 :]!r}: write router:KEY=VALUE with KEY one of "
            f"{list(POLICY_KEYS)} (e.g. router:lambda=0.3).",
            "model",
        )
    try:
        value = float(raw)
    except ValueError:
        raise _invalid(f"router:{key}= needs a finite number; got {raw!r}.", "model") from None
    return _spec(key, value, written=f"router:{key}=", param="model")


def _routing_object(routing: Any) -> PolicySpec:
    if not isinstance(routing, dict):
        raise _invalid(
            f'\'routing\' must be an object such as {{"lambda": 0.3}} or {{"budget": 0.002}}; got {routing!r}.',
            "routing",
        )
    unknown = sorted(str(k) for k in routing if k not in POLICY_KEYS)
    if unknown:
        raise _invalid(
            f"Unknown key {unknown[0]!r} in 'routing': the keys are {list(POLICY_KEYS)}.", f"routing.{unknown[0]}"
        )
    if len(routing) != 1:
        keys = "both 'lambda' and 'budget'" if len(routing) == 2 else "no key"
        raise _invalid(f"'routing' sets {keys}: give exactly one of {list(POLICY_KEYS)}.", "routing")
    ((key, value),) = routing.items()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"routing.{key} must be a number; got {value!r}.", f"routing.{key}")
    return _spec(key, float(value), written=f"routing.{key}", param=f"routing.{key}")


def request_policy(body: dict[str, Any], pool: Pool, default_lambda: float) -> PolicySpec | str:
    """The policy of a chat request ``body`` (its ``model`` and ``routing``; see the module doc)."""
    target = parse_model(body.get("model"), pool, default_lambda)
    routing = body.get("routing")
    if routing is None:
        return target
    if isinstance(target, str):
        raise _invalid(
            f"'routing' sets a routing policy, but the model {target!r} is a pool model, which is not routed. "
            f"Send model {ROUTER_MODEL!r} to route, or drop 'routing'.",
            "routing",
        )
    if body.get("model") != ROUTER_MODEL:
        raise _invalid(
            f"The policy is set twice: by the model {body.get('model')!r} and by 'routing'. "
            f"Send model {ROUTER_MODEL!r} with 'routing', or drop 'routing'.",
            "routing",
        )
    return _routing_object(routing)
