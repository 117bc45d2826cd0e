"""The one error the stack raises: it names the component and says what failed."""

from __future__ import annotations


class StackError(RuntimeError):
    """A stack component could not be installed, started, stopped or reached."""

    def __init__(self, component: str, message: str) -> None:
        super().__init__(f"{component}: {message}")
        self.component = component
        self.message = message
