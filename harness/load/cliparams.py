"""Several command-line options handed to a typer command as one value."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["options_as_one_value"]

Command = Callable[..., None]


def options_as_one_value(param: str, options: list[tuple[str, Any, Any]],
                         build: Callable[..., Any]) -> Callable[[Command], Command]:
    """A decorator for a typer command: adds `options` ((name, annotation,
    typer.Option) each) to its parameters, and calls it with
    `param=build(**their values)` in their place. The command declares `param`
    with a default; typer sees the options instead."""

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command)
        kept = [p for name, p in signature.parameters.items() if name != param]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=option)
                 for name, kind, option in options]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            given = {name: kwargs.pop(name) for name, _, _ in options}
            command(*args, **{param: build(**given)}, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=kept + added)  # type: ignore[attr-defined]
        return wrapper

    return decorate
