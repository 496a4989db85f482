"""`mediamon kibana import` through the CLI, against a local server in Kibana's place."""

from __future__ import annotations

from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from ingest.cli import cli


def test_kibana_import_posts_every_saved_object_with_overwrite(httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/api/saved_objects/_import", method="POST", query_string="overwrite=true",
        headers={"kbn-xsrf": "mediamon"},
    ).respond_with_json({
        "success": True, "successCount": 2,
        "successResults": [
            {"type": "index-pattern", "id": "mediamon-articles", "meta": {"title": "Articles"}},
            {"type": "dashboard", "id": "coverage", "meta": {"title": "Coverage over time"}},
        ],
    })  # fmt: skip
    result = CliRunner().invoke(cli, ["kibana", "import", "--kibana-url", httpserver.url_for("/")])
    assert result.exit_code == 0, result.output
    assert "2 saved objects imported" in result.output and "Coverage over time" in result.output
    ((request, _),) = httpserver.log
    assert b"mediamon-articles" in request.get_data()  # the ndjson of mappings/kibana/


def test_kibana_import_names_an_unreachable_kibana() -> None:
    result = CliRunner().invoke(cli, ["kibana", "import", "--kibana-url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "Kibana is not reachable at http://127.0.0.1:9" in result.output
