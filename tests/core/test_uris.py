"""The forge:// addresses: built from the same templates the server registers, listed per store table."""

from __future__ import annotations

from forge_mcp.core import uris
from forge_mcp.core.store import RECORD_TABLES


def test_addresses_fill_the_templates() -> None:
    assert uris.run_loss("run-1") == "forge://runs/run-1/loss"
    assert uris.run_loss_png("run-1") == uris.RUN_LOSS_PNG.replace("{run_id}", "run-1")
    assert uris.run_layers_png("r") == "forge://runs/r/layers.png"
    assert uris.report_json("rep") == uris.report("rep") + "/json"
    assert uris.report_chart("rep") == uris.report("rep") + "/chart.png"
    assert uris.cycle("c") == uris.CYCLES + "/c"
    assert {uris.repo_status("x"), uris.repo_events("x"), uris.repo_index("x")} == {
        "forge://repos/x/status",
        "forge://repos/x/events",
        "forge://repos/x/index",
    }


def test_every_template_is_under_the_scheme_and_every_listing_is_a_table() -> None:
    templates = [v for k, v in vars(uris).items() if k.isupper() and isinstance(v, str) and k != "SCHEME"]
    assert templates and all(t.startswith(uris.SCHEME) for t in templates)
    assert set(uris.LISTINGS) <= set(RECORD_TABLES) | {"deployments"}
    assert uris.listing("reports") == uris.REPORTS
