"""Secrets never leave the process: credential options are redacted wherever the job writes text.

An option is a credential when its name holds one of SECRET_WORDS (`--s3_secret_access_key`,
`--s3_session_token`, `--dataflow_kms_key`, a password of a future option...). Its value is replaced by
REDACTED in the manifest's settings, and any text the job writes (log lines, progress lines, the
reason of an error row) has the values themselves replaced, wherever they appear.

Beam's own job description for Dataflow carries the pipeline options, the credentials among them:
the workers need them. Give S3 credentials to Dataflow through the workers' environment instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions

SECRET_WORDS = ("key", "secret", "token", "password", "credential")
REDACTED = "<redacted>"
MIN_SECRET_LENGTH = 4
"""Shorter values are not scrubbed from free text: replacing every `a` would mangle it."""


def is_secret_option(name: str) -> bool:
    """Does the option (`--s3_secret_access_key`, `s3_session_token`) carry a credential?"""
    name = name.lstrip("-").lower()
    return any(word in name for word in SECRET_WORDS)


def redact_args(args: Sequence[str]) -> tuple[list[str], set[str]]:
    """`args` with the value of every credential option replaced (`--x=v` and `--x v` forms), and the
    values found."""
    redacted, secrets = [], set()
    take_next = False
    for arg in args:
        if take_next and not arg.startswith("--"):  # else the option was a boolean flag
            redacted.append(REDACTED)
            secrets.add(arg)
            take_next = False
            continue
        take_next = False
        name, equals, value = arg.partition("=")
        if arg.startswith("-") and is_secret_option(name):
            if equals:
                redacted.append(f"{name}={REDACTED}")
                secrets.add(value)
                continue
            take_next = True
        redacted.append(arg)
    return redacted, {secret for secret in secrets if secret}


def redact_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Job flags by name, credential ones redacted."""
    return {
        name: (REDACTED if is_secret_option(name) and value is not None else value)
        for name, value in settings.items()
    }


def option_secrets(options: PipelineOptions) -> set[str]:
    """The values of the credential options set in `options`."""
    values = options.get_all_options(drop_default=True, retain_unknown_options=True)
    return {
        str(value)
        for name, value in values.items()
        if is_secret_option(name) and isinstance(value, str) and value
    }


def worker_secrets() -> set[str]:
    """The credential values of the job's options where the code runs (Beam sets the job's options
    on FileSystems on every worker): read there, so they are never pickled into the job's graph."""
    from apache_beam.io.filesystems import FileSystems

    options = FileSystems._pipeline_options  # noqa: SLF001
    if options is None:
        return set()
    if _worker_cache.get("options") is not options:  # listing every option costs milliseconds
        _worker_cache.update(options=options, secrets=option_secrets(options))
    return _worker_cache["secrets"]


_worker_cache: dict[str, Any] = {}


_known: set[str] = set()
"""The secrets of the run in this process (hide_in_logs), for text printed outside logging."""


def scrub(text: str | None, secrets: Iterable[str] | None = None) -> str | None:
    """`text` with every secret value in it replaced (by default, those given to hide_in_logs)."""
    if not text:
        return text
    for secret in sorted(_known if secrets is None else secrets, key=len, reverse=True):
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, REDACTED)
    return text


class ScrubSecrets(logging.Filter):
    """A logging filter that replaces secret values in every record's message (after formatting its
    arguments) and in the text of its exception."""

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        self.secrets = frozenset(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            import traceback

            text = "".join(traceback.format_exception(*record.exc_info))
            if scrub(text, self.secrets) != text:
                record.msg = f"{record.msg}\n{scrub(text, self.secrets)}"
                record.exc_info, record.exc_text = None, None
        return True


def hide_in_logs(secrets: Iterable[str]) -> None:
    """Scrub `secrets` from every line the process logs (filters on the root logger's handlers)."""
    secrets = set(secrets)
    _known.update(secrets)
    if not secrets:
        return
    for handler in logging.getLogger().handlers:
        handler.addFilter(ScrubSecrets(secrets))
