"""terraform/ is the reviewed configuration: every IAM policy document, resource, variable, local, output and module
call as review last read it (tests/terraform/reviewed.json, comments left out).

The behaviour is proven elsewhere (terraform test, the static tests, the permission proofs, the applies); this is
the gate for what those do not pin: an argument dropped, a reference retargeted, a number or an enum changed, a
statement widened fails here in a second, with the block named. A change meant is written down with
`.venv/bin/python -m tests.terraform.test_reviewed --write` (make tf-approve), so that the diff shows review what
changed. `make tf-mutate` reports what only this gate catches, apart from what the semantic checks catch.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.terraform.tf import FUNCTION_MODULE, TF_DIR, blocks

REVIEWED = Path(__file__).with_name("reviewed.json")
KINDS = ("resource", "data", "variable", "locals", "output", "module", "moved", "terraform", "provider")


# Words for people, not configuration: a reworded description needs no approval.
PROSE = {"__comments__", "__inline_comments__", "description", "error_message"}


def _clean(value: Any) -> Any:
    """The value without its prose (python-hcl2 keeps comments too)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in sorted(value.items()) if k not in PROSE}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


@functools.cache
def configuration() -> dict[str, dict[str, Any]]:
    """Every block of the root module and the function module, by kind, then module and address."""
    out: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        section = out.setdefault("iam" if kind == "data" else kind, {})
        for module, directory in (("root", TF_DIR), ("function", FUNCTION_MODULE)):
            for key, body in blocks(kind, directory).items():
                if kind == "data" and key[0] != "aws_iam_policy_document":
                    out.setdefault("data", {})[f"{module}:{'.'.join(key)}"] = _clean(body)
                    continue
                section[f"{module}:{'.'.join(key)}"] = _clean(body)
    # Code the configuration deploys from files of its own (file()): its lines, without comments or blank ones.
    out["files"] = {
        str(path.relative_to(TF_DIR)): [
            line.strip() for line in path.read_text().splitlines() if line.strip() and not line.strip().startswith("//")
        ]
        for path in sorted(TF_DIR.glob("cdn/*.js"))
    }
    return out


def _changed(section: str) -> list[str]:
    reviewed = json.loads(REVIEWED.read_text()).get(section, {})
    now = configuration().get(section, {})
    return sorted(name for name in reviewed.keys() | now.keys() if reviewed.get(name) != now.get(name))


# IAM first and on its own: what may do what is the change review must never miss.
@pytest.mark.parametrize(
    "section",
    ["iam", "resource", "data", "variable", "locals", "output", "module", "moved", "terraform", "provider", "files"],
)
def test_the_configuration_is_the_reviewed_one(section: str) -> None:
    changed = _changed(section)
    assert changed == [], (
        f"terraform {section} changed since review: {', '.join(changed)}. If that is meant, write it down with "
        "`make tf-approve` and let review read the diff of tests/terraform/reviewed.json"
    )


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.terraform.test_reviewed --write")
    REVIEWED.write_text(json.dumps(configuration(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {REVIEWED.relative_to(TF_DIR.parent)}: review its diff")
