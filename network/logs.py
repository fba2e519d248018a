"""Structured logs: one JSON object per line for machines, a readable line for people.

Operators feed validator logs to a collector, so each record is a single JSON object with fixed
fields (`ts`, `level`, `logger`, `msg`) plus the consensus context the caller passes through
`extra=` (`height`, `round`, `peer`, `step`, `tx_id`, ...). Bytes become lowercase hex (a peer
key is shortened to 16 characters). On a terminal the same record prints as one aligned line.
In JSON mode every line the node prints is JSON, the `ready` line on stdout included
(`ready_line`), so a collector that reads both streams never meets a line it cannot parse.
"""

from __future__ import annotations

import json as _json
import logging
import sys
import time
from types import TracebackType
from typing import Any, TextIO

CONTEXT_FIELDS = ("height", "round", "step", "peer", "tx_id", "block_id", "validator")
"""Fields lifted from `extra=` into the output, in this order."""

_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_PEER_HEX_CHARS = 16


def _plain(value: object, key: str = "") -> object:
    """`value` as something JSON can hold: bytes to hex, unknown objects to str."""
    if isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value).hex()
        return text[:_PEER_HEX_CHARS] if key in ("peer", "validator") else text
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The context fields of `record`: the known ones first, then any other `extra=` keys."""
    extra = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
    fields: dict[str, Any] = {}
    for key in CONTEXT_FIELDS:
        if key in extra:
            fields[key] = _plain(extra.pop(key), key)
    for key in sorted(extra):
        fields[key] = _plain(extra[key], key)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC ISO 8601, ms), level, logger, msg, context, exc."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        out: dict[str, Any] = {
            "ts": f"{ts}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(record_fields(record))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return _json.dumps(out, ensure_ascii=False, separators=(",", ":"))


class HumanFormatter(logging.Formatter):
    """`12:00:01.234 INFO  node        committed block  height=7 round=0 peer=ab12..`."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%H:%M:%S", time.localtime(record.created))
        context = " ".join(f"{k}={v}" for k, v in record_fields(record).items())
        line = f"{ts}.{int(record.msecs):03d} {record.levelname:<5} {record.name:<12} "
        line += record.getMessage() + (f"  {context}" if context else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(
    level: int | str = logging.INFO, *, json: bool | None = None, stream: TextIO | None = None
) -> logging.Handler:
    """Send the root logger's records to `stream` (stderr): JSON lines unless `json` is False
    or, when `json` is None, unless the stream is a terminal. Replaces a handler this function
    installed before (so calling it twice does not duplicate lines); returns the new handler."""
    target = sys.stderr if stream is None else stream
    if json is None:
        isatty = getattr(target, "isatty", None)
        json = not (callable(isatty) and isatty())
    handler = logging.StreamHandler(target)
    handler.setFormatter(JsonFormatter() if json else HumanFormatter())
    handler._depositnet = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_depositnet", False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # Python warnings become records in the same format (off then on: installs it afresh even
    # if something replaced `warnings.showwarning` since an earlier call).
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught if json else sys.__excepthook__
    return handler


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    """In JSON mode a crash's traceback is one JSON record too (`exc`), not raw lines."""
    logging.getLogger("depositnet").critical("unhandled exception", exc_info=(kind, exc, tb))


READY = "ready"


def json_mode() -> bool:
    """Whether the handler `configure_logging` installed writes JSON (False if none)."""
    for handler in logging.getLogger().handlers:
        if getattr(handler, "_depositnet", False):
            return isinstance(handler.formatter, JsonFormatter)
    return False


def ready_line(fields: dict[str, object], *, json: bool) -> str:
    """The line a node prints on stdout once it listens: `ready k=v ...`, or in JSON mode a
    JSON log record whose msg is "ready" and whose fields are `fields`."""
    if not json:
        return " ".join([READY, *(f"{k}={v}" for k, v in fields.items())])
    record = logging.makeLogRecord(
        {"name": "network.node", "levelno": logging.INFO, "levelname": "INFO", "msg": READY}
    )
    record.__dict__.update(fields)
    return JsonFormatter().format(record)


def parse_ready(line: str) -> dict[str, str] | None:
    """The fields of a `ready` line in either form, or None if `line` is not one."""
    line = line.strip()
    if line.startswith(READY + " "):
        pairs = (item.partition("=") for item in line.split()[1:])
        return {k: v for k, _, v in pairs}
    if line.startswith("{"):
        try:
            record = _json.loads(line)
        except ValueError:
            return None
        if isinstance(record, dict) and record.get("msg") == READY:
            return {str(k): str(v) for k, v in record.items()}
    return None
