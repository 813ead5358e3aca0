"""The one backend interface: a list of chat requests with images in, one reply (or its error) per request out.

Two implementations, so any task (and the evaluation suite's judge) runs on either unchanged:
- `LocalBackend`: a transformers VLM in this process. Requests are bucketed by image count, answer budget
  and prompt size (less padding), left-padded (generation appends on the right), and the next batch is
  preprocessed on a thread while the current one generates. Under `accelerate launch` each process holds a
  model on its own device and the writer gives each rank its share of rows (data parallelism).
- `HTTPBackend`: any OpenAI-compatible server (vLLM, TGI, `transformers serve`, GPT-4o): bounded concurrency,
  an overall deadline per attempt (connection, headers and body together, so a server dripping one byte every
  few seconds cannot hold a request open), a byte cap on each reply (read no further than the cap), exponential
  backoff on 429 / 5xx / timeouts / unreadable bodies, and a JSON schema in `response_format` where the server
  honours it. The API key is read from the environment, sent only in the `Authorization` header and never
  printed, logged or recorded; credentials written into the URL are redacted wherever it is described.

A failed request never raises: its `Reply` carries the reason, so one bad row never stops a long job. A reason
that starts with `TRANSIENT` (the server was unreachable, slow, rate-limiting or failing after every retry) is
worth sending again later: a rerun of the same synthesis command retries those rows.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image

from edit_handbook.models.images import model_ready
from edit_handbook.redaction import redact, redact_url

from .configs import SynthesisBackendArguments


@dataclass
class Request:
    """Chat `messages` whose `{"type": "image"}` placeholders are filled by `images`, in order."""

    messages: list[dict]
    images: list[Image.Image] = field(default_factory=list)
    max_new_tokens: int = 64
    json_schema: dict | None = None


# Failure reasons that begin with this are transient (connection, timeout, 429, 5xx after every retry).
TRANSIENT = "transient: "


def is_transient(reason: str | None) -> bool:
    """Whether a failure reason says the request may succeed when sent again later."""
    return bool(reason) and reason.startswith(TRANSIENT)


@dataclass
class Reply:
    """The answer text, or `error` saying why there is none."""

    text: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def transient(self) -> bool:
        return is_transient(self.error)


class Backend(Protocol):
    name: str
    model_name: str

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        """One reply per request, in order; never raises for a single request's failure."""

    def describe(self) -> dict[str, Any]:
        """What to record in cards and run info (never a secret)."""


class LocalBackend:
    """Batched greedy generation with a transformers VLM and its processor (`models.generation.generate_batched`)."""

    name = "local"

    def __init__(
        self,
        model,
        processor,
        *,
        model_name: str = "",
        batch_size: int = 8,
        prefetch: bool = True,
        generate_kwargs: dict | None = None,
    ) -> None:
        self.model = model.eval()
        self.processor = processor
        self.model_name = model_name or getattr(model, "name_or_path", "")
        self.batch_size = batch_size
        self.prefetch = prefetch
        self.generate_kwargs = dict(generate_kwargs or {})

    @classmethod
    def from_pretrained(cls, model_name_or_path: str, *, dtype: str = "auto", device: str | None = None, **kwargs):
        """Load model and processor; the device defaults to this accelerate process's device."""
        from accelerate import PartialState

        from edit_handbook.models import load_vlm

        model, processor = load_vlm(model_name_or_path, dtype=dtype)
        model.to(device or PartialState().device)
        return cls(model, processor, model_name=str(model_name_or_path), **kwargs)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model_name, "batch_size": self.batch_size}

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        from edit_handbook.models.generation import Prompt, generate_batched

        errors: dict[int, str] = {}

        def failed(batch: list[int], error: Exception) -> None:  # a bad image or an OOM fails its batch, not the job
            for i in batch:
                errors[i] = f"local generation failed: {type(error).__name__}: {error}"

        prompts = [Prompt(request.messages, request.images, request.max_new_tokens) for request in requests]
        texts = generate_batched(
            self.model,
            self.processor,
            prompts,
            batch_size=self.batch_size,
            prefetch=self.prefetch,
            synced_gpus=False,
            on_batch_error=failed,
            **self.generate_kwargs,
        )
        return [Reply(error=errors[i]) if i in errors else Reply(text=text) for i, text in enumerate(texts)]


def _rgb(image: Image.Image) -> Image.Image:
    return model_ready(image)  # RGB, padded out of aspect ratios a processor refuses


def image_data_url(image: Image.Image) -> str:
    """A PNG data URL: lossless, so the server sees exactly the pixels the local backend would."""
    buffer = io.BytesIO()
    _rgb(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def openai_messages(messages: list[dict], images: Sequence[Image.Image]) -> list[dict]:
    """Structured chat messages with image placeholders -> OpenAI chat format with data-URL images."""
    urls = iter([image_data_url(image) for image in images])
    converted = []
    for message in messages:
        parts = []
        for part in message["content"]:
            if part["type"] == "image":
                parts.append({"type": "image_url", "image_url": {"url": next(urls)}})
            else:
                parts.append({"type": "text", "text": part["text"]})
        converted.append({"role": message["role"], "content": parts})
    return converted


RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
DEFAULT_MAX_REPLY_BYTES = 256 * 1024  # a chat answer of this project is a few hundred bytes


class _Retryable(Exception):
    """A failure worth another try (rate limit, server error, timeout, unreadable body)."""

    def __init__(self, kind: str, detail: str, retry_after: str | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind, self.retry_after = kind, retry_after


class HTTPBackend:
    """Chat completions from an OpenAI-compatible server, `concurrency` requests in flight at most."""

    name = "http"

    def __init__(
        self,
        base_url: str,
        model_name: str,
        *,
        api_key_env: str | None = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        response_format: str = "json_schema",
        temperature: float = 0.0,
        max_reply_bytes: int = DEFAULT_MAX_REPLY_BYTES,
    ) -> None:
        if response_format not in ("json_schema", "json_object", "none"):
            raise ValueError(f"response_format must be json_schema, json_object or none, got {response_format!r}")
        for name, value in (("timeout", timeout), ("concurrency", concurrency), ("max_reply_bytes", max_reply_bytes)):
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        self.base_url = base_url.rstrip("/")
        self.model_name = model_name
        self.api_key_env = api_key_env
        self._api_key = os.environ.get(api_key_env) if api_key_env else None
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.response_format = response_format
        self.temperature = temperature
        self.max_reply_bytes = max_reply_bytes
        self.retries: Counter[str] = Counter()

    def __repr__(self) -> str:  # the key is not an attribute anyone should ever see
        return f"HTTPBackend(base_url={redact_url(self.base_url)!r}, model_name={self.model_name!r})"

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model_name,
            "base_url": redact_url(self.base_url),
            "concurrency": self.concurrency,
            "timeout_s": self.timeout,
            "max_reply_bytes": self.max_reply_bytes,
            "max_retries": self.max_retries,
            "response_format": self.response_format,
            "api_key": f"from ${self.api_key_env}" if self._api_key else "none",
            "retries": dict(self.retries),
        }

    def _body(self, request: Request) -> dict:
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": openai_messages(request.messages, request.images),
            "max_tokens": request.max_new_tokens,
            "temperature": self.temperature,
        }
        if request.json_schema is not None and self.response_format == "json_schema":
            # Not "strict": OpenAI's strict mode refuses some keywords (ranges); vLLM constrains decoding anyway.
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": request.json_schema},
            }
        elif request.json_schema is not None and self.response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    async def _read_capped(self, response) -> bytes:
        """The body, read no further than `max_reply_bytes` (ValueError past it: a permanent failure)."""
        cap = self.max_reply_bytes
        too_large = (
            f"reply_too_large: the reply is over the {cap}-byte cap; raise max_reply_bytes if answers are meant to be "
            "this long"
        )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise ValueError(f"{too_large} (Content-Length {declared})")
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise ValueError(too_large)
            chunks.append(chunk)
        return b"".join(chunks)

    async def _post_once(self, client, body: dict) -> str:
        import httpx

        try:
            async with client.stream("POST", "/chat/completions", json=body) as response:
                payload = await self._read_capped(response)
        except httpx.TimeoutException as error:
            raise _Retryable("timeout", f"no answer within {self.timeout:g} s ({type(error).__name__})") from error
        except httpx.TransportError as error:
            raise _Retryable("connection", f"{type(error).__name__}: {error}") from error
        text = payload.decode("utf-8", errors="replace")
        if response.status_code in RETRY_STATUS:
            raise _Retryable(f"http_{response.status_code}", text[:120], response.headers.get("retry-after"))
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}: {text[:300]}")
        try:
            content = json.loads(payload)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise _Retryable("bad_body", f"{type(error).__name__}: {text[:120]!r}") from error
        if isinstance(content, list):  # some servers return content parts
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        if not isinstance(content, str):
            raise _Retryable("bad_body", f"content is {type(content).__name__}, not text")
        return content.strip()

    async def _attempt(self, client, body: dict) -> str:
        """One attempt under one deadline: httpx's timeout bounds each read, this bounds them all together."""
        try:
            return await asyncio.wait_for(self._post_once(client, body), self.timeout)
        except TimeoutError:
            raise _Retryable("timeout", f"no complete answer within {self.timeout:g} s (deadline)") from None

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        try:
            wanted = float(retry_after) if retry_after is not None else None
        except ValueError:
            wanted = None
        exponential = self.backoff * 2**attempt * (0.5 + random.random() / 2)
        return min(self.max_backoff, wanted if wanted is not None else exponential)

    async def _one(self, client, semaphore: asyncio.Semaphore, request: Request) -> Reply:
        body, last, retry_after = None, "no attempt", None
        for attempt in range(self.max_retries + 1):
            async with semaphore:
                # Images are PNG-encoded inside the semaphore, off the event loop: memory stays bounded by
                # `concurrency` and encoding never stalls the requests in flight.
                body = body or await asyncio.to_thread(self._body, request)
                try:
                    return Reply(text=await self._attempt(client, body))
                except _Retryable as error:
                    last, retry_after = str(error), error.retry_after
                    self.retries[error.kind] += 1
                except ValueError as error:
                    return Reply(error=redact(str(error)))
            if attempt < self.max_retries:
                await asyncio.sleep(self._delay(attempt, retry_after))
        return Reply(error=redact(f"{TRANSIENT}gave up after {self.max_retries + 1} attempts; last: {last}"))

    async def _all(self, requests: Sequence[Request]) -> list[Reply]:
        import httpx

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        semaphore = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=self.timeout, limits=limits
        ) as client:
            return list(await asyncio.gather(*(self._one(client, semaphore, r) for r in requests)))

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        return asyncio.run(self._all(requests)) if requests else []


def make_backend(args: SynthesisBackendArguments) -> Backend:
    """The backend the config asks for (one model per process for `local`)."""
    if args.backend == "http":
        return HTTPBackend(
            args.base_url,
            args.synthesis_model,
            api_key_env=args.api_key_env or None,
            concurrency=args.concurrency,
            timeout=args.request_timeout,
            max_retries=args.max_retries,
            backoff=args.retry_backoff,
            response_format=args.response_format,
            max_reply_bytes=args.max_reply_bytes,
        )
    from edit_handbook.models.registry import resolve_model

    model = resolve_model(args.synthesis_model)
    generate_kwargs = {"cache_implementation": "static"} if args.static_cache else None
    return LocalBackend.from_pretrained(
        model, dtype=args.synthesis_dtype, batch_size=args.batch_size, generate_kwargs=generate_kwargs
    )


def parse_json_object(text: str) -> dict:
    """Strictly read one JSON object (a Markdown code fence around it is allowed); ValueError otherwise."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = stripped.rsplit("```", 1)[0].strip()
    if not stripped:
        raise ValueError("the answer is empty")
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg} at char {error.pos})") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


def ask_json(
    backend: Backend, requests: Sequence[Request], parse: Callable[[dict], Any]
) -> list[tuple[Any, str | None, str | None]]:
    """Ask, parse strictly with `parse(object)`, and give each unreadable answer one repair attempt.

    Returns (value, error, raw answer) per request; `error` is None when `value` is good.
    """
    from edit_handbook.synth.prompts import repair_messages

    def read(reply: Reply) -> tuple[Any, str | None, str | None]:
        if not reply.ok:
            return None, reply.error, None
        try:
            return parse(parse_json_object(reply.text)), None, reply.text
        except ValueError as error:
            return None, str(error), reply.text

    results = [read(reply) for reply in backend.generate(requests)]
    retry = [i for i, (_, error, raw) in enumerate(results) if error is not None and raw is not None]
    repairs = [
        Request(
            repair_messages(requests[i].messages, results[i][2], results[i][1]),
            requests[i].images,
            requests[i].max_new_tokens,
            requests[i].json_schema,
        )
        for i in retry
    ]
    for i, reply in zip(retry, backend.generate(repairs)):
        value, error, raw = read(reply)
        results[i] = (value, None if error is None else f"unreadable after one repair: {error}", raw)
    return results
