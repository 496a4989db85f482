"""Kibana saved objects: the data views, searches and dashboards in `mappings/kibana/`.

`import_saved_objects` posts them to Kibana's saved-objects import API with
`overwrite=true`, so importing again replaces them in place (same ids): idempotent.

This module talks to Kibana with httpx directly rather than through `ingest.fetch.client`. That
client is the egress point for *untrusted* URLs out of feeds, and its guard refuses private
and loopback addresses by design; Kibana is the operator's own service, usually on a private
network (`http://kibana:5601` in docker compose), named by the operator on the command line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ingest.config import REPOSITORY
from ingest.errors import ConfigError, MediamonError

SAVED_OBJECTS_DIR = REPOSITORY / "mappings" / "kibana"
DEFAULT_PREFIX = "mediamon"


class KibanaError(MediamonError):
    """Kibana refused or failed the import; the message names the objects and why."""


@dataclass
class ImportResult:
    """What Kibana reported: how many objects it imported, and which (type, id, title)."""

    success_count: int
    objects: list[tuple[str, str, str]] = field(default_factory=list)


def saved_object_files(directory: Path = SAVED_OBJECTS_DIR) -> list[Path]:
    """The ndjson files to import, in name order (data views first by convention: `10-...`)."""
    files = sorted(directory.glob("*.ndjson"))
    if not files:
        raise ConfigError(f"no saved objects (*.ndjson) in {directory}")
    return files


def read_saved_objects(files: Sequence[Path], prefix: str = DEFAULT_PREFIX) -> list[dict[str, Any]]:
    """Parse the files (one JSON object a line); data view patterns follow the index prefix."""
    objects: list[dict[str, Any]] = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(obj, dict) or "type" not in obj or "id" not in obj:
                raise ConfigError(f"{path}:{number}: not a saved object (no type or id)")
            objects.append(_with_prefix(obj, prefix))
    return objects


def _with_prefix(obj: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Data view patterns and the indices Vega panels query follow the index prefix."""
    if prefix == DEFAULT_PREFIX:
        return obj
    attributes = dict(obj["attributes"])
    if obj["type"] == "index-pattern":
        attributes["title"] = _prefixed(str(attributes["title"]), prefix)
    elif obj["type"] == "visualization":
        state = json.loads(attributes["visState"])
        if state.get("type") != "vega":
            return obj
        spec = json.loads(state["params"]["spec"])  # ours are JSON, which HJSON includes
        for source in spec.get("data", []):
            url = source.get("url")
            if isinstance(url, dict) and "index" in url:
                url["index"] = _prefixed(str(url["index"]), prefix)
        state["params"]["spec"] = json.dumps(spec, indent=2, ensure_ascii=False)
        attributes["visState"] = json.dumps(state, ensure_ascii=False)
    return {**obj, "attributes": attributes}


def _prefixed(index: str, prefix: str) -> str:
    if index.startswith(f"{DEFAULT_PREFIX}-"):
        return prefix + index[len(DEFAULT_PREFIX) :]
    return index


def vega_data(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The data sources of a Vega visualization that query Elasticsearch (`url`: index and
    body, Kibana's placeholders such as `%context%` as written; `format`: where in the
    response the rows are); none for other objects."""
    if obj["type"] != "visualization":
        return []
    state = json.loads(obj["attributes"]["visState"])
    if state.get("type") != "vega":
        return []
    spec = json.loads(state["params"]["spec"])
    return [source for source in spec.get("data", []) if isinstance(source.get("url"), dict)]


def import_saved_objects(
    kibana_url: str,
    files: Sequence[Path] | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    api_key: str | None = None,
    space: str | None = None,
    prefix: str = DEFAULT_PREFIX,
    timeout: float = 60.0,
) -> ImportResult:
    """Import the saved objects into Kibana (overwrite: re-imports replace, never duplicate).

    All files go in one request, so references between them (a dashboard to its data view)
    resolve within the import. Credentials: `username`/`password` (basic) or `api_key`
    (the base64 `id:key` form Kibana shows); they are sent, never logged or echoed in errors.
    """
    objects = read_saved_objects(files or saved_object_files(), prefix)
    body = "".join(json.dumps(obj, ensure_ascii=False) + "\n" for obj in objects)
    url = f"{kibana_url.rstrip('/')}{_space_path(space)}/api/saved_objects/_import"
    headers = {"kbn-xsrf": "mediamon"}
    auth: httpx.BasicAuth | None = None
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    elif username and password:
        auth = httpx.BasicAuth(username, password)
    files_field = {"file": ("mediamon.ndjson", body.encode("utf-8"), "application/ndjson")}
    try:
        with httpx.Client(timeout=timeout, auth=auth) as client:
            response = client.post(
                url, params={"overwrite": "true"}, headers=headers, files=files_field
            )
    except httpx.HTTPError as exc:
        raise KibanaError(f"Kibana is not reachable at {kibana_url}: {exc}") from None
    return _import_result(response, kibana_url)


def _space_path(space: str | None) -> str:
    return f"/s/{space}" if space and space != "default" else ""


def _import_result(response: httpx.Response, kibana_url: str) -> ImportResult:
    if response.status_code in (401, 403):
        raise KibanaError(
            f"Kibana at {kibana_url} refused the credentials (HTTP {response.status_code})"
        )
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code != 200 or not isinstance(data, dict):
        detail = data.get("message") if isinstance(data, dict) else response.text[:300]
        raise KibanaError(f"Kibana import failed (HTTP {response.status_code}): {detail}")
    errors = data.get("errors") or []
    if not data.get("success", False) or errors:
        described = "; ".join(
            f"{e.get('type')} {e.get('id')}: {e.get('error', {}).get('type', '?')}"
            for e in errors[:20]
        )
        raise KibanaError(f"Kibana imported {data.get('successCount', 0)} objects; {described}")
    objects = [
        (str(r.get("type")), str(r.get("id")), str(r.get("meta", {}).get("title", "")))
        for r in data.get("successResults", [])
    ]
    return ImportResult(success_count=int(data.get("successCount", 0)), objects=objects)
