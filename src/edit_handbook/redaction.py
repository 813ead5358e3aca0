"""Secrets out of everything written down: run_info.json, logs, cards and what `push` uploads.

A user can put a credential where the project records its inputs: inside a URL (`http://user:key@host/v1`,
`?api_key=...`) or as a command-line flag (`--hub_token hf_...`, `--api-key=sk-...`). `redact` replaces the
secret part with `***` in a string, and `redact_value` does it through any JSON-like structure (dict keys that
name a secret have their whole value replaced). Tokens with a recognisable shape (`hf_...`, `sk-...`) are
redacted wherever they appear. The API key the HTTP backend reads from an environment variable is never
written in the first place.
"""

from __future__ import annotations

import re
from typing import Any


MASK = "***"
# Names of flags, keys and query parameters that hold a secret: `token`, `hub_token`, `api-key`, `client_secret`,
# ... but not `max_new_tokens`, `pad_token`, `tokenizer_name` or `api_key_env` (the name of a variable).
_SECRET_NAME = (
    r"(?:(?:[\w-]*[_-])?(?:(?:hub|hf|auth|access|api|bearer|refresh|session)[_-]?token|api[_-]?key|apikey|"
    r"access[_-]?key|secret(?:[_-]?key)?|password|passwd|credentials?)|token)"
)
_SECRET_KEY = re.compile(rf"^{_SECRET_NAME}$", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s@'\"`]+)@")
_QUERY_SECRET = re.compile(rf"(?P<name>[?&;]{_SECRET_NAME}=)(?P<value>[^&#\s'\"`]+)", re.IGNORECASE)
_FLAG_SECRET = re.compile(rf"(?P<flag>--{_SECRET_NAME})(?P<sep>=|\s+)(?P<value>(?!--)[^\s'\"`]+)", re.IGNORECASE)
_KNOWN_TOKENS = re.compile(r"\b(?:hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,})\b")


def redact(text: str) -> str:
    """`text` with URL credentials, secret query parameters, secret flag values and known token shapes masked."""
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    text = _QUERY_SECRET.sub(lambda m: f"{m['name']}{MASK}", text)
    text = _FLAG_SECRET.sub(lambda m: f"{m['flag']}{m['sep']}{MASK}", text)
    return _KNOWN_TOKENS.sub(MASK, text)


def redact_url(url: str) -> str:
    """A URL safe to record: user and password, and secret query parameters, masked."""
    return redact(url)


def redact_argv(argv: list[str]) -> list[str]:
    """Command-line arguments with the value after (or in) a secret-named flag masked."""
    out: list[str] = []
    for index, arg in enumerate(argv):
        previous = argv[index - 1] if index else ""
        if previous.startswith("--") and "=" not in previous and _SECRET_KEY.match(previous[2:]) and arg[:2] != "--":
            out.append(MASK)
        else:
            out.append(redact(arg))
    return out


def redact_value(value: Any) -> Any:
    """A JSON-like value with every string redacted and the values of secret-named keys replaced."""
    if isinstance(value, dict):
        return {
            key: (
                MASK
                if isinstance(key, str) and _SECRET_KEY.match(key) and item not in (None, "")
                else redact_value(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return redact(value) if isinstance(value, str) else value
