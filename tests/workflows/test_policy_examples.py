"""Example values in the default policy (numbers no rule gives) are named, per region, until set."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from workflows.policy import EXAMPLE_KEYS, Policy

TODAY = date(2026, 12, 1)
LOCAL = """
[standard]
dibao_standard_fen = 80000
assets_months_per_person = 24
info_due_max_days = 20
[standard.tekun_care_allowance_fen]
partial = 20000
dependent = 60000
[emergency]
post_notice = { label = "事后公示 / notice after the fact", length = 5, unit = "days" }
[appeal]
review_body = "来安县人民政府 / Lai'an county people's government"
[review]
voluntary_exit_months = 2
[temporary.cause_cap_fen_year]
education = 400000
disability = 450000
other = 200000
[verification]
max_age_days = 60
"""


def _policy(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return Policy.load(path)


def test_the_default_policy_runs_everywhere_on_its_example_values() -> None:
    found = Policy.load(None).examples_in_force(TODAY)
    assert found == {"": [".".join(path) for path in EXAMPLE_KEYS]}
    warning = Policy.load(None).example_warning(TODAY)
    assert warning is not None
    assert warning.index("示例取值") < warning.index("example values"), "Chinese first, then English"
    assert "standard.dibao_standard_fen" in warning


def test_a_policy_that_sets_every_example_is_not_warned_of(tmp_path: Path) -> None:
    assert _policy(tmp_path, LOCAL).example_warning(TODAY) is None


def test_a_region_whose_override_sets_only_the_standard_is_named_with_what_it_still_lacks(tmp_path: Path) -> None:
    text = (
        '[[override]]\nregion = "341122101"\neffective_from = 2026-01-01\nstandard = { dibao_standard_fen = 75000 }\n'
    )
    found = _policy(tmp_path, text).examples_in_force(TODAY)
    assert "standard.dibao_standard_fen" in found[""]
    assert "standard.dibao_standard_fen" not in found["341122101"]
    assert "standard.assets_months_per_person" in found["341122101"]
