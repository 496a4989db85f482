"""Deployment files, checked without a Docker engine or a Kibana (neither exists here).

- docker-compose.yml validates against the compose specification (check-jsonschema's vendored
  schema), has what the deployment needs, and names only services and variables that exist;
- every field a Kibana saved object uses exists in the mapping read from `mappings/`, and
  every field it aggregates on is aggregatable;
- `ingest.kibana.import_saved_objects` speaks the saved-objects import API, checked against a
  local HTTP server standing in for Kibana.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ingest import kibana
from ingest.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
KIBANA_DIR = REPO / "mappings" / "kibana"
DOCS = [REPO / "README.md"]  # its "Deploy" section names the services
AGGREGATABLE = {"keyword", "date", "long", "integer", "short", "byte", "float", "double",
                "scaled_float", "boolean", "ip"}  # fmt: skip


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8")))


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


# -- the compose file ------------------------------------------------------------------------


def check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_compose_file_validates_against_the_compose_specification(tmp_path: Path) -> None:
    result = check_compose_schema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    # The check has teeth: a misspelt key fails it.
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        COMPOSE_FILE.read_text().replace("healthcheck:", "healthchek:", 1), encoding="utf-8"
    )
    assert check_compose_schema(broken).returncode != 0


def test_compose_has_the_stack(compose: dict[str, Any]) -> None:
    svc = services(compose)
    es_image, kibana_image = svc["elasticsearch"]["image"], svc["kibana"]["image"]
    assert es_image.startswith("docker.elastic.co/elasticsearch/elasticsearch:")
    assert kibana_image.startswith("docker.elastic.co/kibana/kibana:")
    assert re.search(r":-8\.\d+\.\d+}$", es_image) and re.search(r":-8\.\d+\.\d+}$", kibana_image)
    assert svc["elasticsearch"]["environment"]["xpack.security.enabled"] == "true"
    assert svc["elasticsearch"]["environment"]["discovery.type"] == "single-node"
    commands = {name: s.get("command") for name, s in svc.items()}
    assert commands["airflow-apiserver"] == "api-server"
    assert commands["airflow-scheduler"] == "scheduler"
    assert commands["airflow-dag-processor"] == "dag-processor"
    assert commands["airflow-triggerer"] == "triggerer"
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "${AIRFLOW_EXECUTOR:-LocalExecutor}"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert svc["postgres"]["image"].startswith("postgres:")
    connection = json.loads(env["AIRFLOW_CONN_ELASTICSEARCH_DEFAULT"])
    assert connection["host"] == "elasticsearch" and connection["login"] == "mediamon"
    # The celery profile: a broker and workers that scale.
    assert svc["redis"]["profiles"] == ["celery"]
    assert svc["airflow-worker"]["profiles"] == ["celery"]
    assert svc["airflow-worker"]["command"] == "celery worker"
    assert "container_name" not in svc["airflow-worker"]  # --scale needs generated names


def test_one_shot_init_does_templates_rules_and_kibana(compose: dict[str, Any]) -> None:
    init = services(compose)["init"]
    script = "\n".join(init["command"])
    assert "mediamon setup" in script
    assert "mediamon alerts sync --rules" in script
    assert "mediamon kibana import --kibana-url" in script
    assert init["restart"] == "no"
    assert init["depends_on"]["kibana"]["condition"] == "service_healthy"
    # The scheduler starts the first (unpaused) runs only once the templates and rules exist.
    scheduler = services(compose)["airflow-scheduler"]
    assert scheduler["depends_on"]["init"]["condition"] == "service_completed_successfully"


def test_long_running_services_have_healthchecks_and_dependencies_have_conditions(
    compose: dict[str, Any],
) -> None:
    one_shots = {"es-setup", "init", "airflow-init"}
    for name, svc in services(compose).items():
        if name in one_shots:
            assert svc["restart"] == "no", name
        else:
            assert "healthcheck" in svc, f"{name} has no healthcheck"
        for target, dependency in (svc.get("depends_on") or {}).items():
            assert dependency.get("condition") in (
                "service_healthy",
                "service_completed_successfully",
            ), f"{name} -> {target}"
            expected = "service_completed_successfully" if target in one_shots else None
            assert expected is None or dependency["condition"] == expected, f"{name}->{target}"


def test_volumes_are_named_or_configuration(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for name, svc in services(compose).items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith(("${", ".", "/")):  # a bind mount: configuration only
                assert volume.endswith(":ro"), f"{name}: bind mounts are read-only config"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"


SERVICE_REFERENCE = re.compile(r"(?:https?|redis|postgresql\+psycopg2|db\+postgresql)://"
                               r'(?:[^@/"]+@)?([a-z][a-z0-9-]*)[:/]')  # fmt: skip


def test_every_service_named_in_the_compose_file_exists(compose: dict[str, Any]) -> None:
    names = set(services(compose))
    text = json.dumps(compose)
    referenced = set(SERVICE_REFERENCE.findall(text)) - {"localhost"}
    referenced |= {json.loads(compose["x-airflow-common"]["environment"][
        "AIRFLOW_CONN_ELASTICSEARCH_DEFAULT"])["host"]}  # fmt: skip
    for svc in services(compose).values():
        referenced |= set(svc.get("depends_on") or {})
    assert referenced, "no references found: the pattern is broken"
    assert referenced <= names, referenced - names
    assert {"elasticsearch", "kibana", "postgres", "airflow-apiserver", "redis"} <= referenced


GLOBAL_OPTIONS_WITH_VALUE = {"--profile", "-f", "--file", "--env-file", "-p", "--project-name"}
OPTIONS_WITH_VALUE = {"--scale", "-e", "--env", "-u", "--user", "-w", "--workdir", "--entrypoint",
                      "--name", "--tail", "-t", "--timeout"}  # fmt: skip
SERVICE_COMMANDS = {"up", "run", "exec", "logs", "restart", "stop", "start", "ps", "build",
                    "pull", "rm", "kill"}  # fmt: skip


def services_named_in(text: str) -> tuple[set[str], set[str]]:
    """Services and profiles that the `docker compose ...` commands in a text name."""
    named: set[str] = set()
    profiles: set[str] = set()
    commands = [
        part[part.index("docker compose ") :]
        for line in text.replace("`", "\n").splitlines()
        for part in re.split(r"&&|\|\||;|\|| #", line)
        if "docker compose " in part
    ]
    for command_line in commands:
        words = shlex.split(command_line)[2:]
        i = 0
        while i < len(words) and words[i].startswith("-"):
            if words[i] == "--profile":
                profiles.add(words[i + 1])
            i += 2 if words[i] in GLOBAL_OPTIONS_WITH_VALUE else 1
        if i >= len(words) or words[i] not in SERVICE_COMMANDS:
            continue
        command, rest = words[i], words[i + 1 :]
        j = 0
        while j < len(rest):
            word = rest[j]
            if word == "--scale":
                named.add(rest[j + 1].split("=")[0])
            if word.startswith("-"):
                j += 2 if word in OPTIONS_WITH_VALUE else 1
                continue
            named.add(word)
            if command in ("run", "exec"):  # the rest is the command run in the container
                break
            j += 1
    return named, profiles


def test_every_service_named_in_the_docs_exists(compose: dict[str, Any]) -> None:
    names = set(services(compose))
    profiles = {p for s in services(compose).values() for p in s.get("profiles", [])}
    for doc in DOCS:
        named, named_profiles = services_named_in(doc.read_text(encoding="utf-8"))
        assert {"init", "airflow-worker", "airflow-scheduler"} <= named, named
        assert named <= names, f"{doc}: {named - names}"
        assert named_profiles <= profiles, f"{doc}: {named_profiles - profiles}"


def test_the_docs_parser_finds_services() -> None:
    text = (
        "`docker compose --profile celery up -d --scale airflow-worker=3`\n"
        "docker compose run --rm init mediamon setup && docker compose logs -f init kibana\n"
        "docker compose exec airflow-scheduler airflow pools set x 1 y\n"
    )
    assert services_named_in(text) == (
        {"airflow-worker", "init", "kibana", "airflow-scheduler"},
        {"celery"},
    )


def test_env_example_sets_every_variable_the_compose_file_requires(
    compose: dict[str, Any],
) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", text))
    required = set(re.findall(r"(?<!\$)\$\{(\w+):\?", text))
    example = {
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#") and "=" in line
    }
    assert required <= example, required - example
    assert example <= used, f".env.example sets unused variables: {example - used}"
    assert ".env" in (REPO / ".gitignore").read_text().split()


def test_dockerfile_builds_on_the_official_airflow_image() -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^ARG AIRFLOW_VERSION=3\.3\.\d+$", text, re.M)
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python" in text
    for line in re.findall(r"^COPY (?:--chown=\S+ )?(.+) \S+$", text, re.M):
        for source in line.split():
            assert (REPO / source).exists() or source == "README.md", f"COPY {source}"
    assert "/opt/airflow/dags" in text


# -- Kibana saved objects --------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_objects() -> list[dict[str, Any]]:
    return kibana.read_saved_objects(kibana.saved_object_files(KIBANA_DIR))


def by_id(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["type"], o["id"]): o for o in objects}


def test_saved_objects_parse_have_unique_ids_and_resolvable_references(
    saved_objects: list[dict[str, Any]],
) -> None:
    index = by_id(saved_objects)
    assert len(index) == len(saved_objects), "duplicate (type, id)"
    for obj in saved_objects:
        for ref in obj.get("references", []):
            assert (ref["type"], ref["id"]) in index, f"{obj['id']} -> {ref}"
        if obj["type"] == "dashboard":
            panels = json.loads(obj["attributes"]["panelsJSON"])
            names = {ref["name"] for ref in obj["references"]}
            for panel in panels:
                assert f"{panel['panelIndex']}:{panel['panelRefName']}" in names


def test_the_data_views_and_dashboards_the_issue_asks_for(
    saved_objects: list[dict[str, Any]],
) -> None:
    views = {o["attributes"]["title"]: o["attributes"] for o in saved_objects
             if o["type"] == "index-pattern"}  # fmt: skip
    assert views["mediamon-articles*"]["timeFieldName"] == "published_at"
    assert "mediamon-alerts*" in views and "mediamon-runs*" in views
    titles = {(o["type"], o["attributes"]["title"]) for o in saved_objects}
    expected = {("search", "Latest coverage"), ("search", "Coverage by language"),
                ("dashboard", "Coverage over time"), ("dashboard", "Pipeline health"),
                ("dashboard", "Attention")}  # fmt: skip
    assert expected <= titles


def load_mapping(name: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Field path -> type (with sub-fields), and the dynamic templates' (path_match, type)."""
    template = json.loads((REPO / "mappings" / f"{name}.json").read_text(encoding="utf-8"))
    mappings = template["template"]["mappings"]
    fields: dict[str, str] = {}

    def walk(properties: dict[str, Any], prefix: str) -> None:
        for key, spec in properties.items():
            path = f"{prefix}{key}"
            fields[path] = spec.get("type", "object")
            for sub, sub_spec in spec.get("fields", {}).items():
                fields[f"{path}.{sub}"] = sub_spec["type"]
            walk(spec.get("properties", {}), f"{path}.")

    walk(mappings["properties"], "")
    dynamic = [
        (rule["path_match"], rule["mapping"]["type"])
        for entry in mappings.get("dynamic_templates", [])
        for rule in entry.values()
        if "path_match" in rule
    ]
    return fields, dynamic


def field_type(name: str, fields: dict[str, str], dynamic: list[tuple[str, str]]) -> str | None:
    if name in fields:
        return fields[name]
    for pattern, kind in dynamic:
        if fnmatch(name, pattern):
            return kind
    return None


KQL_FIELD = re.compile(r"(?<![\w.*])([A-Za-z_][\w.]*)\s*(?::|>=|<=|>|<)")


def used_fields(obj: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(fields the object shows, sorts or queries; fields it aggregates on)."""
    attributes = obj["attributes"]
    shown: set[str] = set()
    aggregated: set[str] = set()
    if obj["type"] == "index-pattern" and attributes.get("timeFieldName"):
        aggregated.add(attributes["timeFieldName"])
    source = json.loads(attributes.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON", "{}"))
    shown |= set(KQL_FIELD.findall(source.get("query", {}).get("query", "")))
    if obj["type"] == "search":
        shown |= set(attributes["columns"])
        aggregated |= {field for field, _ in attributes["sort"]}
    if obj["type"] == "visualization":
        for agg in json.loads(attributes["visState"])["aggs"]:
            if "field" in agg["params"]:
                aggregated.add(agg["params"]["field"])
    for source in kibana.vega_data(obj):
        url = source["url"]
        if "%timefield%" in url:
            aggregated.add(url["%timefield%"])
        walk_vega_body(url["body"], shown, aggregated)
    return shown, aggregated


def walk_vega_body(node: Any, shown: set[str], aggregated: set[str]) -> None:
    """Fields a Vega request's body names: aggregated (`field` of an aggregation, or of
    significant_text, which analyses text again), or queried (a `range` or `term` key)."""
    if isinstance(node, list):
        for item in node:
            walk_vega_body(item, shown, aggregated)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "significant_text":
            shown.add(value["field"])
            walk_vega_body({k: v for k, v in value.items() if k != "field"}, shown, aggregated)
        elif key in ("range", "term") and isinstance(value, dict):
            shown.update(value)
            walk_vega_body(list(value.values()), shown, aggregated)
        elif key == "field" and isinstance(value, str):
            aggregated.add(value)
        else:
            walk_vega_body(value, shown, aggregated)


def data_view_of(obj: dict[str, Any], index: dict[tuple[str, str], dict[str, Any]]) -> str:
    """The index pattern an object reads: its data view's, or the one its Vega spec queries."""
    if obj["type"] == "index-pattern":
        return str(obj["attributes"]["title"])
    patterns = {source["url"]["index"] for source in kibana.vega_data(obj)}
    if patterns:
        [pattern] = patterns
        return str(pattern)
    [ref] = [r for r in obj["references"] if r["type"] == "index-pattern"]
    return str(index[("index-pattern", ref["id"])]["attributes"]["title"])


def test_every_field_a_kibana_object_uses_exists_in_the_mappings(
    saved_objects: list[dict[str, Any]],
) -> None:
    index = by_id(saved_objects)
    checked = 0
    for obj in saved_objects:
        if obj["type"] == "dashboard":
            continue
        title = data_view_of(obj, index)
        match = re.fullmatch(r"mediamon-([\w-]+)\*", title)
        assert match, title
        fields, dynamic = load_mapping(match.group(1).replace("-", "_"))  # dead-letters
        shown, aggregated = used_fields(obj)
        for name in shown | aggregated:
            kind = field_type(name, fields, dynamic)
            assert kind is not None, f"{obj['type']} {obj['id']}: {name} not in {title} mapping"
            assert kind != "object", f"{obj['id']}: {name} is an object, not a field"
            if name in aggregated:
                assert kind in AGGREGATABLE, f"{obj['id']}: cannot aggregate or sort on {name}"
            checked += 1
    assert checked > 30


def test_the_index_prefix_is_applied_to_the_data_views() -> None:
    objects = kibana.read_saved_objects(kibana.saved_object_files(KIBANA_DIR), prefix="news")
    titles = {o["attributes"]["title"] for o in objects if o["type"] == "index-pattern"}
    assert "news-articles*" in titles and not any(t.startswith("mediamon-") for t in titles)
    vega = {s["url"]["index"] for o in objects for s in kibana.vega_data(o)}
    assert vega == {"news-articles*"}


def test_a_bad_ndjson_line_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "x.ndjson"
    bad.write_text('{"type": "search", "id": "a"}\n{oops\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"x\.ndjson:2"):
        kibana.read_saved_objects([bad])
    with pytest.raises(ConfigError, match="no saved objects"):
        kibana.saved_object_files(tmp_path / "empty")


# -- the import API, against a local server standing in for Kibana ---------------------------


class FakeKibana:
    """Answers `POST /api/saved_objects/_import` like Kibana 8 and keeps what it was sent."""

    def __init__(self, server: HTTPServer, path: str = "/api/saved_objects/_import") -> None:
        self.requests: list[Request] = []
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        server.expect_request(path, method="POST").respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        self.requests.append(request)
        if request.headers.get("kbn-xsrf") is None:
            return Response(json.dumps({"statusCode": 400, "message": "missing kbn-xsrf"}), 400)
        if request.args.get("overwrite") != "true":
            return Response("overwrite expected", 400)
        upload = request.files["file"]
        assert upload.filename.endswith(".ndjson")
        results = []
        for line in upload.read().decode("utf-8").splitlines():
            obj = json.loads(line)
            self.objects[(obj["type"], obj["id"])] = obj
            title = obj["attributes"].get("title", "")
            results.append({"type": obj["type"], "id": obj["id"], "meta": {"title": title}})
        body = {"success": True, "successCount": len(results), "successResults": results}
        return Response(json.dumps(body), content_type="application/json")


def test_import_posts_every_object_with_overwrite_and_is_idempotent(
    httpserver: HTTPServer, saved_objects: list[dict[str, Any]]
) -> None:
    fake = FakeKibana(httpserver)
    url = httpserver.url_for("/")
    first = kibana.import_saved_objects(url, username="elastic", password="s3cret")
    second = kibana.import_saved_objects(url, username="elastic", password="s3cret")
    assert first.success_count == second.success_count == len(saved_objects)
    assert len(fake.objects) == len(saved_objects)  # the same ids: replaced, not duplicated
    assert ("dashboard", "mediamon-coverage-over-time", "Coverage over time") in first.objects
    request = fake.requests[0]
    assert request.authorization is not None
    assert (request.authorization.username, request.authorization.password) == (
        "elastic",
        "s3cret",
    )


def test_import_with_an_api_key_into_a_space(httpserver: HTTPServer) -> None:
    fake = FakeKibana(httpserver, path="/s/newsroom/api/saved_objects/_import")
    kibana.import_saved_objects(httpserver.url_for("/"), api_key="aWQ6a2V5", space="newsroom")
    assert fake.requests[0].headers["Authorization"] == "ApiKey aWQ6a2V5"


def test_import_errors_are_reported_without_credentials(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/saved_objects/_import").respond_with_json(
        {"success": False, "successCount": 3, "errors": [
            {"type": "dashboard", "id": "mediamon-pipeline-health",
             "error": {"type": "missing_references"}}]},
    )  # fmt: skip
    with pytest.raises(kibana.KibanaError) as raised:
        kibana.import_saved_objects(httpserver.url_for("/"), username="u", password="hunter2")
    assert "mediamon-pipeline-health: missing_references" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_refused_credentials_and_an_absent_kibana(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/saved_objects/_import").respond_with_json(
        {"statusCode": 401, "message": "Unauthorized"}, status=401
    )
    with pytest.raises(kibana.KibanaError, match="refused the credentials"):
        kibana.import_saved_objects(httpserver.url_for("/"), username="u", password="p")
    with pytest.raises(kibana.KibanaError, match="not reachable"):
        kibana.import_saved_objects("http://127.0.0.1:9", timeout=2)
