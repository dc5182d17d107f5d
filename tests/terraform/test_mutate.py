"""The terraform mutation tool makes the mutants it says it makes, judges them right, and its sample has no survivor
that is neither killed nor written down with why (tests/terraform/mutants.accepted)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.terraform import mutate
from tests.terraform.tf import TF_DIR, cli_config

OPERATORS = {
    "swap-ref", "enum", "number", "widen-action", "widen-resource", "drop-guard", "compare", "flip-bool",
    "drop-arg", "drop-block", "drop-item",
}  # fmt: skip
# A sample in make test, the same each run (the seed), across every operator, cheapest check first (about 5 s
# a mutant); make tf-mutate runs more, and says which check kills each.
SAMPLE = 30


def test_every_operator_makes_mutants_each_a_change_with_its_own_name() -> None:
    every = mutate.mutants()
    assert {m.operator for m in every} == OPERATORS
    ids = [m.id for m in every]
    assert len(ids) == len(set(ids)) > 500
    for m in every:
        assert m.text != (TF_DIR / m.file).read_text(), m.id


def test_the_sample_takes_every_operator_and_is_the_same_for_a_seed() -> None:
    every = mutate.mutants()
    first = mutate.sample(every, 40, seed=3)
    assert {m.operator for m in first} == OPERATORS
    assert [m.id for m in first] == [m.id for m in mutate.sample(every, 40, seed=3)]


def test_every_accepted_survivor_is_still_a_mutant_with_a_reason() -> None:
    ids = [m.id for m in mutate.mutants()]
    known = mutate.accepted()
    stale = [k for k in known if not any(mutate.why_accepted(i, {k: "x"}) for i in ids)]
    assert stale == [], "accepted survivors that no longer exist: remove them"
    assert [i for i, why in known.items() if len(why) < 20] == [], "each accepted survivor says why"


@pytest.fixture(scope="module")
def workspace() -> Iterator[mutate.Workspace]:
    cfg, why = cli_config()
    if cfg is None:
        pytest.skip(f"the mutation tool needs terraform and its provider mirror: {why}")
    ws = mutate.Workspace({**os.environ, "TF_CLI_CONFIG_FILE": cfg})
    yield ws
    ws.close()


def _one(operator: str, detail: str) -> mutate.Mutant:
    return next(m for m in mutate.mutants() if m.operator == operator and m.detail.startswith(detail))


def test_the_verdicts(workspace: mutate.Workspace) -> None:
    # A mapping that stops reporting partial failures retries a whole batch for one bad image: killed
    assert workspace.verdict(_one("drop-item", '"ReportBatchItemFailures"')).startswith("killed")
    # A function without a name is refused by terraform itself: not counted either way
    assert workspace.verdict(_one("drop-arg", "function_name")) == "stillborn"


@pytest.mark.timeout(900)
def test_a_sample_of_mutants_leaves_no_survivor_unexplained(
    workspace: mutate.Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    chosen = mutate.sample(mutate.mutants(), SAMPLE, seed=0)
    results = {m.id: workspace.verdict(m, review_first=True) for m in chosen}
    assert mutate.report(chosen, results, mutate.accepted(), 0.0) == 0, capsys.readouterr().out
