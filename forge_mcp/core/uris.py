"""The `forge://` addresses of the MCP resources: every one is built here, so a renamed resource changes in one
place (the server registers these templates; the pipeline puts the addresses into its results)."""

from __future__ import annotations

SCHEME = "forge://"

REPOS = "forge://repos"
RUNS = "forge://runs"
REPORTS = "forge://reports"
DEPLOYMENTS = "forge://deployments"
CYCLES = "forge://cycles"

# Templates the server registers (MCP resource templates use {name} placeholders).
REPO_STATUS = "forge://repos/{name}/status"
REPO_EVENTS = "forge://repos/{name}/events"
REPO_INDEX = "forge://repos/{name}/index"
RUN_LOSS = "forge://runs/{run_id}/loss"
RUN_LOSS_PNG = "forge://runs/{run_id}/loss.png"
RUN_LAYERS = "forge://runs/{run_id}/layers"
RUN_LAYERS_PNG = "forge://runs/{run_id}/layers.png"
REPORT = "forge://reports/{report_id}"
REPORT_JSON = "forge://reports/{report_id}/json"
REPORT_CHART = "forge://reports/{report_id}/chart.png"
CYCLE = "forge://cycles/{cycle_id}"

LISTINGS = {"runs": RUNS, "reports": REPORTS, "deployments": DEPLOYMENTS, "cycles": CYCLES}


def repo_status(name: str) -> str:
    return REPO_STATUS.format(name=name)


def repo_events(name: str) -> str:
    return REPO_EVENTS.format(name=name)


def repo_index(name: str) -> str:
    return REPO_INDEX.format(name=name)


def run_loss(run_id: str) -> str:
    return RUN_LOSS.format(run_id=run_id)


def run_loss_png(run_id: str) -> str:
    return RUN_LOSS_PNG.format(run_id=run_id)


def run_layers(run_id: str) -> str:
    return RUN_LAYERS.format(run_id=run_id)


def run_layers_png(run_id: str) -> str:
    return RUN_LAYERS_PNG.format(run_id=run_id)


def report(report_id: str) -> str:
    return REPORT.format(report_id=report_id)


def cycle(cycle_id: str) -> str:
    return CYCLE.format(cycle_id=cycle_id)


def listing(table: str) -> str:
    """The resource that lists a store table's records (runs, reports, deployments, cycles)."""
    return LISTINGS[table]


def report_json(report_id: str) -> str:
    return REPORT_JSON.format(report_id=report_id)


def report_chart(report_id: str) -> str:
    return REPORT_CHART.format(report_id=report_id)
