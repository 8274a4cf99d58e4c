"""OpenAI-compatible embedding API backend (``--encoder openai``).

Talks to OpenAI itself or, with ``base_url``, to any server speaking the same ``/embeddings``
protocol (vLLM, Ollama, infinity, ...). The API key is read from the environment only
(``OPENAI_API_KEY`` unless told otherwise) and is never logged, stored in the feature cache,
nor put in a message or a ``repr``.
"""
from __future__ import annotations

import base64
import email.utils
import os
import random
import time
import urllib.parse
from typing import Any, Callable, Mapping, Optional

import numpy as np

from ..errors import ConfigError, ServiceError
from ..progress import progress_bar
from .base import TextEncoder, as_text_list

__all__ = ["OpenAIEncoder", "DEFAULT_BASE_URL"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: The key sent to a ``base_url`` server when the key variable is unset (local servers ignore it).
PLACEHOLDER_KEY = "not-needed"
#: Vector widths of OpenAI's own models, checked when talking to OpenAI itself.
_KNOWN_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
# Statuses worth another try: timeout, conflict, rate limit; 5xx are added in _is_retryable.
_RETRY_STATUSES = {408, 409, 429}


def _public_url(url: str) -> str:
    """``url`` without user info, query or fragment (for keys and messages)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _retry_after(headers: Optional[Mapping[str, str]]) -> Optional[float]:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``Retry-After``), if any."""
    if headers is None:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


class OpenAIEncoder(TextEncoder):
    """Text features from an OpenAI-compatible ``/embeddings`` endpoint.

    Texts are sent in batches of ``batch_size``. Each request is retried by this class (the
    client's own retries are off) with exponential backoff and jitter on HTTP 408, 409, 429 and
    5xx, on timeouts and on connection errors; a ``Retry-After`` (or ``retry-after-ms``) header
    is honoured, up to ``max_wait`` seconds. A :class:`~lrdgraph.errors.ServiceError` is raised on
    a bad key (401/403), an unknown model or endpoint (404), any other 4xx, a response that is
    not what was asked for (wrong count, ragged or unexpected width, non-finite numbers,
    malformed JSON), and when the retries are exhausted.

    Empty texts are sent as a single space: the OpenAI API rejects empty strings.

    The cache key's ``model`` is the model name, plus ``dimensions`` when given, plus the
    ``base_url`` (without user info or query) when given: the same name on another server may be
    another model.

    Args:
        model (str): embedding model name. (default: ``"text-embedding-3-small"``)
        base_url (str, optional): an OpenAI-compatible server, e.g. ``http://localhost:8000/v1``.
            (default: OpenAI's own API)
        api_key_env (str): environment variable holding the key. Required without
            ``base_url``; with it, an unset key sends a placeholder. (default: ``"OPENAI_API_KEY"``)
        batch_size (int): texts per request. (default: 256)
        max_retries (int): retries after the first attempt of a request. (default: 5)
        timeout (float): seconds before a request counts as timed out. (default: 60)
        dimensions (int, optional): ask for vectors of this width (text-embedding-3 models).
        sleep (callable): how to wait between tries; tests inject a fake. (default: ``time.sleep``)
        backoff_base (float): first backoff in seconds, doubled on each retry. (default: 1)
        backoff_max (float): largest backoff in seconds, before jitter. (default: 30)
        max_wait (float): cap on a server-requested ``Retry-After`` wait. (default: 300)
        seed (int, optional): seed of the jitter's random numbers.
    """

    backend = "openai"

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        base_url: Optional[str] = None,
        api_key_env: str = "OPENAI_API_KEY",
        batch_size: int = 256,
        max_retries: int = 5,
        timeout: float = 60,
        dimensions: Optional[int] = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        max_wait: float = 300.0,
        seed: Optional[int] = None,
    ) -> None:
        if not model:
            raise ConfigError("an embedding model name is required", field="encoder-model")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {batch_size}", field="batch_size")
        if max_retries < 0:
            raise ConfigError(f"max_retries must be >= 0, got {max_retries}", field="max_retries")
        if not timeout or timeout <= 0:
            raise ConfigError(f"timeout must be positive, got {timeout}", field="timeout")
        if dimensions is not None and dimensions < 1:
            raise ConfigError(f"dimensions must be positive, got {dimensions}", field="dimensions")
        if base_url is not None:
            parts = urllib.parse.urlsplit(base_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(
                    f"base URL must be http(s)://host[:port][/path], got {_public_url(base_url)!r}",
                    field="base-url",
                )
        key = os.environ.get(api_key_env) or None
        if key is None:
            if base_url is None:
                raise ConfigError(
                    f"no API key: set the {api_key_env} environment variable "
                    "(or give --base-url for a server that needs none)",
                    field=api_key_env,
                )
            key = PLACEHOLDER_KEY

        self.model_name = model
        self.base_url = None if base_url is None else _public_url(base_url)
        self.api_key_env = api_key_env
        self.batch_size = int(batch_size)
        self.max_retries = int(max_retries)
        self.timeout = float(timeout)
        self.dimensions = dimensions
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.max_wait = float(max_wait)
        self._sleep = sleep
        self._rng = random.Random(seed)
        self.model = model
        if dimensions is not None:
            self.model += f",dimensions={dimensions}"
        if self.base_url is not None:
            self.model += f"@{self.base_url}"
        self._dim: Optional[int] = dimensions
        if self._dim is None and base_url is None:
            self._dim = _KNOWN_DIMS.get(model)
        self._server = self.base_url or DEFAULT_BASE_URL

        import openai  # lazy: keeps `import lrdgraph.text` light

        self._openai = openai
        # The client keeps the key; this object never exposes the client in repr or messages.
        self._client = openai.OpenAI(
            api_key=key,
            base_url=base_url if base_url is not None else DEFAULT_BASE_URL,
            max_retries=0,
            timeout=self.timeout,
        )
        del key

    # -- public ---------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Vector width: from ``dimensions``, a known OpenAI model, or one probe request."""
        if self._dim is None:
            self._embed_batch([" "])
        assert self._dim is not None
        return self._dim

    def encode(
        self, texts: list[str], *, batch_size: Optional[int] = None, progress: bool = False
    ) -> np.ndarray:
        texts = as_text_list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        size = batch_size or self.batch_size
        out = []
        bar = progress_bar(total=len(texts), desc=f"embedding ({self.model_name})",
                           enabled=progress, unit="text")
        try:
            for start in range(0, len(texts), size):
                batch = texts[start : start + size]
                out.append(self._embed_batch(batch))
                bar.update(len(batch))
        finally:
            bar.close()
        return np.concatenate(out, axis=0)

    def __repr__(self) -> str:
        extra = "" if self.base_url is None else f", base_url={self.base_url!r}"
        return f"OpenAIEncoder(model={self.model_name!r}{extra}, batch_size={self.batch_size})"

    def __reduce__(self) -> Any:
        raise TypeError("OpenAIEncoder holds a live API client and is not picklable")

    # -- one request, with retries ----------------------------------------------------------
    def _embed_batch(self, batch: list[str]) -> np.ndarray:
        openai = self._openai
        payload = [t if t else " " for t in batch]
        kwargs: dict[str, Any] = {"encoding_format": "float"}
        if self.dimensions is not None:
            kwargs["dimensions"] = self.dimensions
        reason = ""
        for attempt in range(self.max_retries + 1):
            wait: Optional[float] = None
            try:
                resp = self._client.embeddings.create(
                    model=self.model_name, input=payload, **kwargs
                )
            except openai.APITimeoutError:
                reason = f"request timed out after {self.timeout:g} s"
            except openai.APIConnectionError:
                reason = f"could not connect to {self._server}"
            except openai.APIResponseValidationError:
                raise ServiceError(self._malformed("the response did not match the API")) from None
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status in (401, 403):  # the server's text may quote the key: left out
                    raise ServiceError(
                        f"authentication failed: check {self.api_key_env} "
                        f"(HTTP {status} from {self._server})"
                    ) from None
                detail = self._server_message(exc)
                if status == 404:
                    raise ServiceError(
                        "model or endpoint not found: check --encoder-model / --base-url "
                        f"(model {self.model_name!r} at {self._server}{detail})"
                    ) from None
                if not (status in _RETRY_STATUSES or status >= 500):
                    raise ServiceError(
                        f"embedding request rejected with HTTP {status} by {self._server}{detail}"
                    ) from None
                reason = f"HTTP {status}{detail}"
                wait = _retry_after(exc.response.headers)
            except (ValueError, TypeError, KeyError, AttributeError):
                # e.g. a body that is not JSON: the client's decoder raises ValueError.
                raise ServiceError(self._malformed("the response is not valid JSON")) from None
            else:
                return self._parse(resp, len(batch))
            if attempt == self.max_retries:
                break
            self._sleep(self._backoff(attempt, wait))
        raise ServiceError(
            f"embedding request to {self._server} failed after {self.max_retries + 1} "
            f"attempt(s): {reason}"
        )

    def _backoff(self, attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_wait)
        cap = min(self.backoff_max, self.backoff_base * (2.0**attempt))
        return cap / 2.0 + self._rng.uniform(0.0, cap / 2.0)  # "equal jitter"

    # -- checking what came back ----------------------------------------------------------
    def _parse(self, resp: Any, n: int) -> np.ndarray:
        data = _field(resp, "data")
        if not isinstance(data, list):
            raise ServiceError(self._malformed("no 'data' list in the response"))
        if len(data) != n:
            raise ServiceError(
                f"embedding server {self._server} returned {len(data)} vectors for {n} texts"
            )
        rows: list[Any] = [None] * n
        for item in data:
            index, emb = _field(item, "index"), _field(item, "embedding")
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < n:
                raise ServiceError(self._malformed(f"bad vector index {index!r}"))
            if rows[index] is not None:
                raise ServiceError(self._malformed(f"vector index {index} appears twice"))
            if isinstance(emb, str):  # base64 float32, from servers that ignore encoding_format
                try:
                    emb = np.frombuffer(base64.b64decode(emb, validate=True), dtype="<f4")
                except ValueError:
                    raise ServiceError(self._malformed("undecodable base64 vector")) from None
            if emb is None:
                raise ServiceError(self._malformed(f"vector {index} has no 'embedding'"))
            rows[index] = emb
        try:
            arr = np.array(rows, dtype=np.float64)
        except (ValueError, TypeError):
            raise ServiceError(
                self._malformed("vectors of different lengths or with non-numbers")
            ) from None
        if arr.ndim != 2 or arr.shape[1] == 0:
            raise ServiceError(self._malformed("vectors of different lengths or empty vectors"))
        width = arr.shape[1]
        if self._dim is not None and width != self._dim:
            raise ServiceError(
                f"embedding server {self._server} returned {width}-dimensional vectors for "
                f"model {self.model_name!r}, expected {self._dim}"
            )
        if not np.isfinite(arr).all():
            raise ServiceError(f"embedding server {self._server} returned non-finite numbers")
        self._dim = width
        with np.errstate(over="ignore"):
            out = arr.astype(np.float32)
        if not np.isfinite(out).all():
            raise ServiceError(f"embedding server {self._server} returned numbers beyond float32")
        return out

    def _malformed(self, what: str) -> str:
        return f"malformed response from embedding server {self._server}: {what}"

    def _server_message(self, exc: Any) -> str:
        """The server's own error text, shortened and with the key scrubbed, as ': text'."""
        body = getattr(exc, "body", None)
        msg: Any = None
        if isinstance(body, Mapping):
            err = body.get("error", body)
            msg = err.get("message") if isinstance(err, Mapping) else err
            if msg is None:
                msg = body.get("detail") or body.get("message")
        elif isinstance(body, str):
            msg = body
        if not msg:
            return ""
        text = " ".join(str(msg).split())
        key = getattr(self._client, "api_key", None)
        if isinstance(key, str) and key and key != PLACEHOLDER_KEY:
            text = text.replace(key, "***")
        if len(text) > 200:
            text = text[:197] + "..."
        return f": {text}"
