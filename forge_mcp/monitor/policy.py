"""The significance policy: is the change since the last trained commit worth a retrain?"""

from __future__ import annotations

from dataclasses import dataclass

from forge_mcp.core.config import MonitorConfig


@dataclass(frozen=True)
class ChangeSummary:
    """What the policy looks at (a subset of a monitor report)."""

    has_commits: bool
    trained_before: bool
    base_missing: bool
    commit_count: int
    files_changed: int
    new_tags: tuple[str, ...]


def assess(change: ChangeSummary, cfg: MonitorConfig) -> tuple[bool, list[str]]:
    """(significant, reasons). Every verdict says why, in words an agent can relay to a person."""
    if not change.has_commits:
        return False, ["the repository has no commits yet: commit code before training"]
    reasons: list[str] = []
    if not change.trained_before:
        reasons.append("no model has been trained on this repository yet")
    if change.base_missing:
        reasons.append("the last trained commit is no longer in the history (rewritten or shallow)")
    if change.files_changed >= cfg.min_changed_files:
        reasons.append(f"{change.files_changed} files changed (threshold {cfg.min_changed_files})")
    if change.new_tags and cfg.new_tag_is_significant:
        reasons.append(f"new tag(s): {', '.join(change.new_tags[:5])}")
    if reasons:
        return True, reasons
    tag_rule = "no new tag" if cfg.new_tag_is_significant else "new tags do not count"
    return False, [
        f"{change.files_changed} file(s) changed in {change.commit_count} commit(s), below the "
        f"threshold of {cfg.min_changed_files}; {tag_rule}"
    ]
