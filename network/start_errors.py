"""One-line operator errors: the one real error inside trio's exception groups, and a genesis
error that names its file once.

A node starts inside nested nurseries, so an operator's mistake (a port in use, a store held
by a running node) reaches the CLI wrapped in one or more `ExceptionGroup`s, which Python
prints as a 30-50 line traceback. These helpers unwrap it so the CLI can print one line.
"""

from __future__ import annotations

import errno

import trio


def leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside `exc` (itself if it is no group), without trio's `Cancelled`
    (the siblings a failing task cancelled)."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in leaves(sub)]
    return [] if isinstance(exc, trio.Cancelled) else [exc]


def sole_error(exc: BaseException) -> BaseException:
    """The one real exception inside `exc`, or `exc` itself when there are several or none."""
    found = leaves(exc)
    return found[0] if len(found) == 1 else exc


def bind_failure(exc: BaseException, setting: str, host: str, port: int) -> str | None:
    """One line for a listen socket that could not bind, or None if `exc` is something else."""
    for leaf in leaves(exc):
        if isinstance(leaf, OSError) and leaf.errno is not None:
            if leaf.errno == errno.EADDRINUSE:
                reason = "the port is already in use (another node or program listens there)"
            else:
                reason = leaf.strerror or str(leaf)
            return f"cannot listen on {host}:{port} ({setting}): {reason}"
    return None


def genesis_error_line(path: object, exc: Exception) -> str:
    """`genesis file PATH: problem`, whichever way the genesis loader phrased the problem (it
    may already start with `genesis: ` or with the path, or say `cannot read genesis file`)."""
    text = str(exc)
    for prefix in ("genesis: ", f"{path}: "):
        text = text.removeprefix(prefix)
    return text if "genesis file" in text else f"genesis file {path}: {text}"
