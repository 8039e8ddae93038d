"""The collection config: model pool, query set, generation budgets, retries, store and budget.

A config is a pydantic model with ``extra="forbid"`` (a misspelt key is an error naming the key and
the close valid ones), read from YAML by :func:`load_config`. Precedence: CLI flags > file >
defaults. Relative paths are taken relative to the working directory, as in ``routerlab sweep``.

What the fields follow:

* **Generation** (``unsolvability-ceiling-artifacts.txt`` ("Unsolvability Ceiling in Multi-LLM Routing") §3.2): greedy
  decoding (``temperature = 0``) and *per-source* ``max_tokens`` budgets (``budgets: {mmlu: 256, humaneval: 1024}``),
  falling back to ``max_tokens`` for other sources. §5.2 / §9.1: budgets bind (MMLU 65% truncated),
  so every record keeps its finish reason and a ``truncated`` flag, and truncation rates should be
  reported.
* **Prices** (``routing-plateau.txt`` (arXiv:2606.07587) App. D, inference protocol): cost is computed from the
  recorded prompt and completion token counts at the provider's posted rates, here USD per 1M
  input / output tokens. A model with no price is an error at start, never $0; write ``0`` for a
  model that really is free (e.g. a local server).
* **Limits** on what a server sends back: ``max_answer_chars`` (default
  :data:`DEFAULT_MAX_ANSWER_CHARS`, 1M characters, far above any answer budget in use) is the
  longest answer text accepted; a longer one is stored as an error saying so, never cut. It also
  sets the cap on a response body, on the wire and after decompression
  (:func:`response_byte_limit`: 12 bytes per character + 1 MiB). Token counts are bounded by
  :data:`routerlab.collect.client.MAX_TOKENS_PER_CALL`.
* **Secrets.** An endpoint names the *environment variable* that holds its API key
  (``api_key_env``); the key itself is read when the run starts and is never stored in the config,
  the store or a log.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from routerlab._yaml import describe_errors, read_yaml
from routerlab.errors import SchemaError

__all__ = [
    "CollectConfig",
    "EndpointConfig",
    "GenerationConfig",
    "QuerySetConfig",
    "RetryConfig",
    "load_config",
    "response_byte_limit",
]

#: the default ``max_answer_chars``: 1M characters (~250k tokens), above any answer budget in use
DEFAULT_MAX_ANSWER_CHARS = 1_000_000
#: the largest ``max_answer_chars`` accepted (it makes the body cap ~115 MiB per request in flight)
MAX_ANSWER_CHARS_LIMIT = 10_000_000
#: the highest price accepted, USD per 1M tokens ($1 a token): keeps every cost finite
MAX_PRICE_PER_1M = 1_000_000.0


def response_byte_limit(max_answer_chars: int) -> int:
    r"""The cap on a response body, on the wire and after decompression, for answers of ``max_answer_chars``.

    12 bytes is the longest JSON spelling of one character (an astral character written as two
    ``\uXXXX`` escapes), so no answer within ``max_answer_chars`` is refused for its size in
    bytes; 1 MiB is room for the rest of the body.
    """
    return 12 * max_answer_chars + (1 << 20)


class EndpointConfig(BaseModel):
    """One model of the pool, served by an OpenAI-compatible endpoint.

    ``name`` is the model's name in the store and in every table (``records.model``); ``model`` is
    the id sent in the request (defaults to ``name``). ``base_url`` ends before
    ``/chat/completions`` (e.g. ``http://127.0.0.1:8000/v1`` or ``https://api.openai.com/v1``).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    base_url: str
    model: str | None = None
    #: USD per 1M prompt tokens, as posted by the provider (required; 0 for a free local model)
    input_price_per_1m: float | None = Field(default=None, ge=0, le=MAX_PRICE_PER_1M, allow_inf_nan=False)
    #: USD per 1M completion tokens, as posted by the provider (required; 0 for a free local model)
    output_price_per_1m: float | None = Field(default=None, ge=0, le=MAX_PRICE_PER_1M, allow_inf_nan=False)
    #: name of the environment variable holding the API key (sent as ``Authorization: Bearer``)
    api_key_env: str | None = None
    #: requests in flight at once to this endpoint (one connection each)
    max_concurrency: int = Field(default=8, ge=1, le=1024)
    #: per-request timeout in seconds; overrides the config's ``request_timeout_s``
    timeout_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    #: extra JSON fields merged into every request body (e.g. ``{"enable_thinking": false}``)
    extra_body: dict[str, Any] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://; got {value!r}")
        if value.endswith("/chat/completions"):
            raise ValueError(f"base_url must end before /chat/completions (e.g. .../v1); got {value!r}")
        return value

    @field_validator("extra_body")
    @classmethod
    def _check_extra(cls, value: dict[str, Any]) -> dict[str, Any]:
        owned = sorted({"model", "messages", "max_tokens", "temperature", "seed", "stream"} & set(value))
        if owned:
            raise ValueError(f"extra_body may not set {owned}; they come from the endpoint and the generation section")
        return value

    @model_validator(mode="after")
    def _check_prices(self) -> EndpointConfig:
        missing = [f for f in ("input_price_per_1m", "output_price_per_1m") if getattr(self, f) is None]
        if missing:
            raise ValueError(
                f"endpoint {self.name!r} (model {self.model_id!r}) has no {' and no '.join(missing)}: a model with "
                "no price would be counted as free. Set the provider's posted price in USD per 1M tokens, "
                "or 0 for a model that really costs nothing (e.g. a local server)"
            )
        return self

    @property
    def model_id(self) -> str:
        """The model id sent in the request body."""
        return self.model or self.name

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Cost of one call from its token counts at the posted prices.

        As in ``routing-plateau.txt`` (arXiv:2606.07587) App. D.
        """
        assert self.input_price_per_1m is not None and self.output_price_per_1m is not None  # checked above
        return (prompt_tokens * self.input_price_per_1m + completion_tokens * self.output_price_per_1m) / 1e6


class GenerationConfig(BaseModel):
    """Decoding parameters shared by every endpoint.

    As in ``unsolvability-ceiling-artifacts.txt`` ("Unsolvability Ceiling in Multi-LLM Routing") §3.2.

    ``budgets`` maps a query *source* to its ``max_tokens``; other sources get ``max_tokens``.
    """

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    seed: int | None = 0
    max_tokens: int = Field(default=512, ge=1)
    budgets: dict[str, int] = Field(default_factory=dict)
    #: an optional system message put before every query
    system_prompt: str | None = None

    @field_validator("budgets")
    @classmethod
    def _check_budgets(cls, value: dict[str, int]) -> dict[str, int]:
        bad = {k: v for k, v in value.items() if v < 1}
        if bad:
            raise ValueError(f"every budget must be a positive number of tokens; got {bad}")
        return value

    def max_tokens_for(self, source: str) -> int:
        """The token budget of a query from ``source``."""
        return self.budgets.get(source, self.max_tokens)


class QuerySetConfig(BaseModel):
    """Where the queries come from: a routerlab dataset (``routerlab.data.load``) or a JSONL file.

    A JSONL file has one object per line with ``id`` and ``text`` (required), ``source`` (default
    ``"default"``), ``gold``, ``split`` (default ``"test"``); other fields go to the query's
    ``meta``. ``splits`` / ``sources`` keep only those; ``limit`` keeps the first N (after filters).
    """

    model_config = ConfigDict(extra="forbid")

    dataset: str | None = None
    #: folder with the dataset's original files (for ``dataset``)
    path: Path | None = None
    jsonl: Path | None = None
    splits: list[str] | None = None
    sources: list[str] | None = None
    limit: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_source(self) -> QuerySetConfig:
        if (self.dataset is None) == (self.jsonl is None):
            raise ValueError("give exactly one of 'dataset' (a routerlab dataset name or file) or 'jsonl' (a path)")
        if self.path is not None and self.dataset is None:
            raise ValueError("'path' is the folder of a 'dataset'; for a JSONL file use 'jsonl' alone")
        return self


class RetryConfig(BaseModel):
    """Retries of one request: on the statuses listed, on timeouts and on connection errors.

    Attempt ``k`` (1-based) that fails waits ``min(backoff_max_s, backoff_base_s * 2**(k-1))`` times
    a jitter factor in [0.5, 1.5) drawn from a generator seeded by (``jitter_seed``, request key,
    attempt), or the server's ``Retry-After`` (capped at ``backoff_max_s``) when it sends one.
    """

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=6, ge=1)
    backoff_base_s: float = Field(default=0.5, ge=0.0, allow_inf_nan=False)
    #: the longest wait between attempts, also for a server's ``Retry-After`` (a bound on what a server can ask)
    backoff_max_s: float = Field(default=30.0, ge=0.0, allow_inf_nan=False)
    retry_statuses: list[int] = Field(default_factory=lambda: [408, 409, 425, 429, 500, 502, 503, 504])
    jitter_seed: int = 0


class CollectConfig(BaseModel):
    """A collection: every query of ``queries`` sent to every endpoint, recorded in ``store``.

    ``max_cost`` (USD) caps the cost of *all* successful records in the store, this run's and
    earlier runs': when it is reached no new request starts; requests in flight finish and are
    stored, so the total can exceed it by at most those. ``batch_size`` / ``flush_interval_s``: a
    batch of results is written in one transaction when it holds that many records or is that old.
    ``http_client``: see :mod:`routerlab.collect.transport`. ``max_answer_chars``: see the module doc.
    """

    model_config = ConfigDict(extra="forbid")

    endpoints: list[EndpointConfig] = Field(min_length=1)
    queries: QuerySetConfig
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    retries: RetryConfig = Field(default_factory=RetryConfig)
    store: Path
    max_cost: float | None = Field(default=None, ge=0.0)
    #: per-request deadline in seconds, the whole exchange (connect, send, headers, body) included
    request_timeout_s: float = Field(default=120.0, gt=0.0, allow_inf_nan=False)
    batch_size: int = Field(default=256, ge=1)
    #: how requests are sent: "auto" (httpx behind a proxy, else the lean asyncio client), "asyncio", "httpx"
    http_client: Literal["auto", "asyncio", "httpx"] = "auto"
    flush_interval_s: float = Field(default=0.5, gt=0.0, allow_inf_nan=False)
    #: the longest answer accepted, in characters; a longer one is stored as an error (never cut)
    max_answer_chars: int = Field(default=DEFAULT_MAX_ANSWER_CHARS, ge=1, le=MAX_ANSWER_CHARS_LIMIT)

    @field_validator("endpoints")
    @classmethod
    def _unique(cls, value: list[EndpointConfig]) -> list[EndpointConfig]:
        names = [e.name for e in value]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"endpoint names must be unique; {dup} appear more than once")
        return value

    @field_validator("max_cost")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("max_cost must be a finite number of USD (leave it out for no budget)")
        return value

    @property
    def max_response_bytes(self) -> int:
        """The cap on one response body, on the wire and decompressed (:func:`response_byte_limit`)."""
        return response_byte_limit(self.max_answer_chars)

    def timeout_for(self, endpoint: EndpointConfig) -> float:
        """The request timeout of ``endpoint`` in seconds."""
        return endpoint.timeout_s if endpoint.timeout_s is not None else self.request_timeout_s

    @classmethod
    def build(cls, **values: Any) -> CollectConfig:
        """Like the constructor, but an invalid value is a :class:`SchemaError` naming the field and the fix."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SchemaError(_describe_errors(exc, "collect config", None)) from None

    def public_dict(self) -> dict[str, Any]:
        """The config as JSON-ready data; it holds no secret (only the *names* of key variables)."""
        data: dict[str, Any] = self.model_dump(mode="json")
        return data


def load_config(path: str | Path, **overrides: Any) -> CollectConfig:
    """Read a YAML collection config; ``overrides`` that are not None (CLI flags) replace top-level keys.

    Errors are :class:`SchemaError` naming the file, the line and the field, e.g.
    ``collect.yaml, line 4: unknown key 'max_concurency' (endpoints.0.max_concurency). Did you
    mean 'max_concurrency'?``.
    """
    path = Path(path)
    raw, node = read_yaml(path, what="collect", expected="a mapping with keys endpoints, queries, store, ...")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return CollectConfig.model_validate(raw)
    except ValidationError as exc:
        raise SchemaError(_describe_errors(exc, str(path), node)) from None


# ------------------------------------------------------------------------------------ error messages
_SECTIONS: dict[str, type[BaseModel]] = {
    "endpoints": EndpointConfig,
    "queries": QuerySetConfig,
    "generation": GenerationConfig,
    "retries": RetryConfig,
}


def _valid_keys(loc: Sequence[Any]) -> list[str]:
    model = _SECTIONS.get(str(loc[0]), CollectConfig) if len(loc) > 1 else CollectConfig
    return list(model.model_fields)


def _describe_errors(exc: ValidationError, source: str, node: Any) -> str:
    return describe_errors(exc, source, node, what="collect", valid_keys=_valid_keys)
