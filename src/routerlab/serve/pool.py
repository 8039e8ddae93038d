"""The gateway's model pool: the upstream endpoints ``routerlab serve`` forwards requests to.

A pool file is YAML with one key, ``endpoints``: a list of endpoints in the collection config's
schema (:class:`routerlab.collect.config.EndpointConfig`: ``name``, ``base_url``, ``model``, prices,
``api_key_env``, ``timeout_s``, ``max_concurrency``, ``extra_body``), so the ``endpoints`` section of
a ``routerlab collect`` config can be copied as is. It is read with the project's safe YAML reader
(:func:`routerlab._yaml.read_yaml`) and validated by pydantic with ``extra="forbid"``.

The pool's model names must be the saved router's pool (``read_manifest(dir)["models"]``), in any
order (:meth:`Pool.check_matches`): a router routes over the models it was fitted on, and a model it
never saw, or one it would choose but cannot reach, is an error at start naming both lists.
API keys are read from the environment variables named by ``api_key_env`` when the gateway starts;
they are never stored, logged or echoed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from routerlab._yaml import describe_errors, read_yaml
from routerlab.collect.config import EndpointConfig
from routerlab.errors import SchemaError

__all__ = ["DEFAULT_TIMEOUT_S", "Pool", "PoolConfig", "load_pool"]

#: per-request timeout of an endpoint that sets no ``timeout_s``
DEFAULT_TIMEOUT_S = 60.0


class PoolConfig(BaseModel):
    """A pool file: ``endpoints``, a non-empty list of endpoints with distinct names."""

    model_config = ConfigDict(extra="forbid")

    endpoints: list[EndpointConfig] = Field(min_length=1)

    @field_validator("endpoints")
    @classmethod
    def _distinct(cls, value: list[EndpointConfig]) -> list[EndpointConfig]:
        names = [e.name for e in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"every endpoint name must be distinct; {twice} appear more than once")
        return value


@dataclass(frozen=True, slots=True)
class Pool:
    """The endpoints of a pool, by model name."""

    endpoints: tuple[EndpointConfig, ...]

    def __post_init__(self) -> None:
        PoolConfig(endpoints=list(self.endpoints))  # distinct names, at least one

    @classmethod
    def of(cls, endpoints: Sequence[EndpointConfig]) -> Pool:
        """A pool of ``endpoints``."""
        return cls(tuple(endpoints))

    @property
    def names(self) -> tuple[str, ...]:
        """The model names, in file order."""
        return tuple(e.name for e in self.endpoints)

    def endpoint(self, name: str) -> EndpointConfig:
        """The endpoint serving model ``name`` (a KeyError for a name not in the pool)."""
        for e in self.endpoints:
            if e.name == name:
                return e
        raise KeyError(name)

    def check_matches(self, models: Sequence[str], *, router: str) -> None:
        """Raise a SchemaError naming both lists unless the pool holds exactly ``models`` (any order)."""
        if sorted(self.names) == sorted(models):
            return
        missing = sorted(set(models) - set(self.names))
        extra = sorted(set(self.names) - set(models))
        parts = []
        if missing:
            parts.append(f"missing from the pool: {missing}")
        if extra:
            parts.append(f"not in the router's pool: {extra}")
        raise SchemaError(
            f"The pool's models {sorted(self.names)} are not the router's pool {sorted(models)} ({router}); "
            f"{'; '.join(parts) or 'names repeat'}. List exactly the router's models in the pool file, "
            "or fit and save a router on this pool."
        )

    def api_keys(self) -> dict[str, str | None]:
        """Each model's API key from its ``api_key_env`` (None without one); a variable not set is an error."""
        keys: dict[str, str | None] = {}
        for e in self.endpoints:
            if e.api_key_env is None:
                keys[e.name] = None
                continue
            value = os.environ.get(e.api_key_env)
            if not value:
                raise SchemaError(
                    f"Endpoint {e.name!r} reads its API key from the environment variable {e.api_key_env!r}, "
                    "which is not set. Export it before starting the gateway."
                )
            keys[e.name] = value
        return keys


def load_pool(path: str | os.PathLike[str]) -> Pool:
    """Read and validate a pool file (see the module doc); errors name the file, the line and the key."""
    raw, node = read_yaml(Path(path), what="pool", expected="a mapping with 'endpoints' (a list of endpoints)")
    try:
        config = PoolConfig.model_validate(raw)
    except ValidationError as exc:
        message = describe_errors(
            exc,
            str(path),
            node,
            what="pool",
            valid_keys=lambda loc: list(EndpointConfig.model_fields) if len(loc) > 2 else list(PoolConfig.model_fields),
        )
        raise SchemaError(message) from None
    return Pool.of(config.endpoints)
