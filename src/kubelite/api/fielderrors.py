"""Field errors in the upstream shape (apimachinery's `field.Error`).

Validation returns a list of these; the API server renders them as the
`details.causes` of a 422 `Status`, and joins their messages into the
top-level message exactly as kube-apiserver does, so kubectl prints the same
text a real cluster would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# reason (StatusCause.reason) -> the words apimachinery puts before the detail
_TYPES: dict[str, str] = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid value",
}

_NO_VALUE = object()


class GoValue:
    """A field error's value printed as is: what Go's %#v shows for a struct or a
    slice (`[]string{"a"}`, `authorization.NonResourceAttributes{Path:"/x"}`)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def render_value(value: Any) -> str:
    """Render a bad value as apimachinery does: `%q` for strings, JSON for structures."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


@dataclass(frozen=True)
class FieldError:
    reason: str  # one of the _TYPES keys
    field: str  # "spec.template.metadata.labels", "spec.containers[0].name"
    detail: str = ""
    value: Any = _NO_VALUE

    @property
    def message(self) -> str:
        """The cause message: `Invalid value: "x": detail` (no field)."""
        words = _TYPES.get(self.reason, "Invalid value")
        parts = [words]
        if self.value is not _NO_VALUE and self.reason not in (
            "FieldValueRequired",
            "FieldValueForbidden",
            "FieldValueTooLong",
            "InternalError",
        ):
            parts.append(render_value(self.value))
        if self.detail:
            parts.append(self.detail)
        return ": ".join(parts)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def required(field: str, detail: str = "") -> FieldError:
    return FieldError("FieldValueRequired", field, detail)


def invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError("FieldValueInvalid", field, detail, value)


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError("FieldValueForbidden", field, detail)


def not_supported(field: str, value: Any, supported: list[str]) -> FieldError:
    detail = "supported values: " + ", ".join(json.dumps(s) for s in supported)
    return FieldError("FieldValueNotSupported", field, detail, value)


def duplicate(field: str, value: Any) -> FieldError:
    return FieldError("FieldValueDuplicate", field, "", value)


def not_found(field: str, value: Any) -> FieldError:
    return FieldError("FieldValueNotFound", field, "", value)


def aggregate_message(errors: list[FieldError]) -> str:
    """Join like `utilerrors.NewAggregate`: one error plain, several in brackets."""
    texts = [str(e) for e in errors]
    if len(texts) == 1:
        return texts[0]
    return "[" + ", ".join(texts) + "]"
