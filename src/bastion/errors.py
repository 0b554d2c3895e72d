"""The exception tree. Exceptions are for bugs and misconfiguration; blocking a request is a
returned ``Interruption`` value, never an exception.

* BastionError
  - ConfigError           a config or artefact failed to load (carries file, line, key)
    + ConfigErrors        several ConfigErrors found in one load, reported together
  - IntegrationError      an integration failed in a way the gateway maps to a 5xx
    + HandlerError        a Python handler raised or returned a malformed result
    + HandlerTimeout      a Python handler ran past its timeout
    + UpstreamError       an HTTP upstream refused, reset or sent a malformed response
      - UpstreamTimeout   an HTTP upstream did not connect or answer in time
  - StorageError          a state backend operation failed (carries the original error)
"""

from __future__ import annotations

__all__ = [
    "BastionError",
    "ConfigError",
    "ConfigErrors",
    "HandlerError",
    "HandlerTimeout",
    "IntegrationError",
    "StorageError",
    "UpstreamError",
    "UpstreamTimeout",
]


class BastionError(Exception):
    """Raised for every failure Bastion itself reports; the root of the tree."""


class ConfigError(BastionError):
    """Raised when configuration is invalid; names the file, line and key at fault."""

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        super().__init__(self.render())

    def render(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where += f":{self.line}"
        if self.key:
            return f"{where}: {self.key}: {self.message}"
        return f"{where}: {self.message}"


class ConfigErrors(ConfigError):
    """Raised when a load found several problems; ``errors`` lists every one of them."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line, key=first.key)

    def render(self) -> str:
        return "\n".join(e.render() for e in getattr(self, "errors", []))


class IntegrationError(BastionError):
    """Raised when an integration fails; the gateway answers with a 5xx."""


class HandlerError(IntegrationError):
    """Raised when a Python handler raises or returns a malformed result (502)."""


class HandlerTimeout(IntegrationError):
    """Raised when a Python handler runs past its timeout (504)."""


class UpstreamError(IntegrationError):
    """Raised when an HTTP upstream cannot be reached or answers malformed (502)."""


class UpstreamTimeout(UpstreamError):
    """Raised when an HTTP upstream does not connect or answer in time (504)."""


class StorageError(BastionError):
    """Raised when a state backend fails; ``storage_error`` is the driver's exception."""

    def __init__(self, message: str, storage_error: BaseException | None = None) -> None:
        self.storage_error = storage_error
        super().__init__(message)
