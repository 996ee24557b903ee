import pytest

from forge_mcp.core.errors import JudgeError
from forge_mcp.judge.metrics import Gate, Side, codebleu, decide, parses, score

REF = "def total(items):\n    result = 0\n    for item in items:\n        result += item.price\n    return result\n"


def test_codebleu_of_a_reference_against_itself_is_one_and_drops_when_corrupted() -> None:
    assert codebleu([REF], [REF], "python")["codebleu"] == pytest.approx(1.0)
    renamed = REF.replace("result", "acc")
    broken = "def total(items):\n    return None\n"
    scores = [codebleu([REF], [p], "python")["codebleu"] for p in (REF, renamed, broken)]
    assert scores[0] > scores[1] > scores[2]


def test_languages() -> None:
    js = "function add(a, b) {\n  return a + b;\n}\n"
    assert codebleu([js], [js], "typescript")["codebleu"] == pytest.approx(1.0)  # scored with the JS grammar
    with pytest.raises(JudgeError, match="does not support 'markdown'"):
        codebleu(["x"], ["x"], "markdown")
    with pytest.raises(JudgeError, match="as many predictions"):
        codebleu(["a", "b"], ["a"], "python")


def test_score_exact_match_and_parse_rate() -> None:
    prompts = ["def total(items):\n", "def total(items):\n"]
    body = REF.split("\n", 1)[1]
    result = score(prompts, [body, body], [body + "\n\n", "    return (\n"], "python")
    assert result.examples == 2 and result.exact_match == 0.5 and result.parse_rate == 0.5
    assert 0 < result.codebleu < 1 and result.syntax_match <= 1
    assert parses("def f():\n    return 1\n", "python") and not parses("def f(:\n", "python")


ABSOLUTE = Gate(rule="absolute")


@pytest.mark.parametrize(
    ("candidate", "baseline", "passed", "rule"),
    [
        (0.55, None, False, "below the threshold 0.600"),
        (0.70, 0.75, False, "worse than the baseline's 0.750"),
        (0.70, 0.71, True, "within 0.020 of the baseline's 0.710"),
        (0.70, None, True, "reaches the threshold 0.600"),
    ],
)
def test_the_absolute_rule_decides_a_constructed_case(
    candidate: float, baseline: float | None, passed: bool, rule: str
) -> None:
    verdict = decide(Side(candidate, 5.0), None if baseline is None else Side(baseline, 5.0), ABSOLUTE)
    assert verdict.passed is passed and rule in verdict.rule


@pytest.mark.parametrize(
    ("candidate", "baseline", "passed", "rule"),
    [
        (Side(0.20, 6.0), Side(0.20, 8.0), True, "25% below the baseline's 8.000"),
        (Side(0.20, 7.8), Side(0.20, 8.0), False, "does not beat the baseline's 8.000 by the margin 5%"),
        (Side(0.10, 6.0), Side(0.20, 8.0), False, "CodeBLEU 0.100 is below the baseline's 0.200"),
        (Side(0.19, 6.0), Side(0.20, 8.0), True, "within 0.020 of the baseline's 0.200"),
        (Side(0.10, 6.0), None, False, "no baseline to compare with"),
    ],
)
def test_the_baseline_rule_needs_lower_perplexity_and_no_worse_codebleu(
    candidate: Side, baseline: Side | None, passed: bool, rule: str
) -> None:
    verdict = decide(candidate, baseline, Gate())
    assert verdict.passed is passed and rule in verdict.rule


def test_a_small_model_can_pass_the_default_gate_but_never_the_absolute_bar() -> None:
    candidate, base = Side(0.21, 5.9), Side(0.20, 8.2)
    assert decide(candidate, base).passed
    assert not decide(candidate, base, ABSOLUTE).passed
