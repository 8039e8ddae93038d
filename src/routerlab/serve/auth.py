"""Client bearer keys: with keys configured, ``/v1/*`` needs ``Authorization: Bearer <key>``.

The header's key is compared with every configured key in constant time
(:func:`hmac.compare_digest`, all keys always compared, so the time taken says nothing about which
key nor how much of it matched). A missing or wrong key is a 401 in the OpenAI error format, code
``invalid_api_key`` (what the OpenAI API answers). The keys are never logged nor echoed: the error
says that the key is wrong, not what was sent. ``/healthz``, ``/readyz`` and ``/metrics`` stay open
(probes and scrapers carry no key). The CLI reads the keys from an environment variable
(``--client-keys-env VAR``, comma-separated), never from the command line, which ``ps`` shows.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Sequence

from routerlab.serve.policy import GatewayError

__all__ = ["ClientKeys", "keys_from_env"]


class ClientKeys:
    """The accepted client keys (none: every request is accepted)."""

    def __init__(self, keys: Sequence[str] | None) -> None:
        values = list(keys or [])
        bad = [i for i, k in enumerate(values) if not isinstance(k, str) or not k.strip()]
        if bad:
            raise ValueError(
                f"client_keys[{bad[0]}] is empty or not a string: every client key must be a non-empty string."
            )
        self._keys = [k.strip().encode() for k in values]

    @property
    def enabled(self) -> bool:
        """Whether requests must carry a key."""
        return bool(self._keys)

    def check(self, authorization: str | None) -> None:
        """Raise a 401 GatewayError unless ``authorization`` is ``Bearer <one of the keys>`` (keys enabled)."""
        if not self._keys:
            return
        scheme, _, given = (authorization or "").partition(" ")
        sent = given.strip().encode()
        matched = False
        for key in self._keys:  # every key compared: the time does not depend on which one matches
            matched |= hmac.compare_digest(sent, key)
        if scheme.lower() != "bearer" or not sent or not matched:
            raise GatewayError(
                401,
                "Missing or invalid API key: send the header 'Authorization: Bearer <key>' with a key this "
                "gateway accepts.",
                param=None,
                code="invalid_api_key",
            )


def keys_from_env(var: str) -> list[str]:
    """The comma-separated keys in the environment variable ``var``; a ValueError when it is unset or empty."""
    raw = os.environ.get(var, "")
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        state = "is not set" if var not in os.environ else "holds no key"
        raise ValueError(
            f"--client-keys-env {var}: the environment variable {var} {state}. Export it with the client keys, "
            f"comma-separated (e.g. export {var}=key1,key2), before starting the gateway."
        )
    return keys
