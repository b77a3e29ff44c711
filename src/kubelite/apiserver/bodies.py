"""Request bodies: size limit, media types, and the parsers behind them.

kubectl sends JSON, JSON patches, YAML for server-side apply, and protobuf for
`create configmap|secret|namespace`; the Python client sends JSON with no
Content-Type at all. Every parse error becomes a 400 naming where it failed,
before anything is stored.
"""

from __future__ import annotations

from typing import Any

import orjson
import yaml

from kubelite.apiserver import errors

MAX_BODY = 3 * 1024 * 1024  # kube-apiserver's limit on a request body

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"

PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)


async def read_body(receive: Any) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise errors.RequestEntityTooLarge(f"Request entity too large: limit is {MAX_BODY}")
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def media_type(content_type: str | None) -> str:
    if not content_type:
        return JSON  # the Python client sends none
    return content_type.split(";", 1)[0].strip().lower()


def decode_object(body: bytes, content_type: str | None) -> dict[str, Any]:
    """Decode a create/update body into an object."""
    kind = media_type(content_type)
    if kind == JSON:  # also when none is named; any other type is a 415, as upstream's
        return _object(parse_json(body))
    if kind in (YAML, "application/x-yaml", "text/yaml"):
        return _object(parse_yaml(body))
    if kind == PROTOBUF:
        from kubelite.api.protobuf import decode_k8s_protobuf

        try:
            return decode_k8s_protobuf(body)
        except ValueError as exc:
            raise errors.BadRequest(f"protobuf decoding error: {exc}") from exc
    raise errors.UnsupportedMediaType(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{JSON}, {YAML}, {PROTOBUF}"
    )


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise errors.BadRequest("the body of the request was empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.BadRequest(f"json parse error: {exc}") from exc


def parse_yaml(body: bytes) -> Any:
    try:
        return yaml.safe_load(body)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise errors.BadRequest(f"yaml parse error{where}: {problem}") from exc


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise errors.BadRequest(
            "Object 'Kind' is missing in the body: the body must be a JSON object"
        )
    return value


def find_duplicate_keys(body: bytes) -> list[str]:
    """Dotted paths of keys that appear twice in one JSON object (strict validation)."""
    import json

    dupes: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                dupes.append(key)
            seen.add(key)
        return dict(pairs)

    try:
        json.loads(body, object_pairs_hook=hook)
    except ValueError:
        return []
    return dupes
