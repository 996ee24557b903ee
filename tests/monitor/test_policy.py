from forge_mcp.core.config import MonitorConfig
from forge_mcp.monitor.policy import ChangeSummary, assess


def _change(**kw: object) -> ChangeSummary:
    base = dict(has_commits=True, trained_before=True, base_missing=False, commit_count=1, files_changed=1, new_tags=())
    base.update(kw)
    return ChangeSummary(**base)


def test_each_rule_decides_and_says_why() -> None:
    cfg = MonitorConfig()
    assert assess(_change(has_commits=False), cfg)[0] is False
    assert assess(_change(trained_before=False), cfg) == (True, ["no model has been trained on this repository yet"])
    assert assess(_change(files_changed=10), cfg) == (True, ["10 files changed (threshold 10)"])
    assert assess(_change(new_tags=("v2",)), cfg) == (True, ["new tag(s): v2"])
    significant, reasons = assess(_change(files_changed=9), cfg)
    assert not significant and "below the threshold of 10" in reasons[0]


def test_tags_can_be_ignored() -> None:
    significant, reasons = assess(_change(new_tags=("v2",)), MonitorConfig(new_tag_is_significant=False))
    assert not significant and "new tags do not count" in reasons[0]
