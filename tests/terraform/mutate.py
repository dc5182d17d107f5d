"""Mutation testing of terraform/: mutants made over the configuration, each run against the fast checks.

A mutant is the configuration with one small change a reviewer could miss: a reference swapped for a sibling, an
enum or a number changed, an IAM statement widened, a condition or guard dropped, a flag flipped, an argument or a
list item removed. Each is run against the checks that take seconds (`terraform validate`, the static tests that
read terraform/, `terraform test` with its mock provider); one that passes them all survives. A survivor is either
killed by a new test or written down in tests/terraform/mutants.accepted with why it is harmless (or which slower
test of `make test` kills it). `make tf-mutate` runs a sample; MUTANTS=all runs every one.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from tests.terraform.tf import ROOT, TF_DIR, cli_config

ACCEPTED = Path(__file__).with_name("mutants.accepted")
# Checks that read terraform/ as text or data: the copy under test is named by IMGPIPE_TF_DIR (tests/terraform/tf.py).
SEMANTIC_TESTS = [
    "tests/terraform/test_static.py",
    "tests/terraform/test_rules.py",
    "--deselect",
    "tests/terraform/test_static.py::test_make_tf_check",
]
# The reviewed configuration (tests/terraform/test_reviewed.py) runs last: what only it catches is counted apart.
REVIEW_TESTS = ["tests/terraform/test_reviewed.py"]

# Values AWS takes from a short list, and what each can become: a mutant per alternative.
ENUMS = {
    "Enabled": ["Disabled", "Suspended"],
    "Suspended": ["Enabled"],
    "Disabled": ["Enabled"],
    "aws:kms": ["AES256"],
    "AES256": ["aws:kms"],
    "ALL": ["KEYS_ONLY"],
    "PAY_PER_REQUEST": ["PROVISIONED"],
    "Allow": ["Deny"],
    "Deny": ["Allow"],
    "redirect-to-https": ["allow-all"],
    "https-only": ["allow-all"],
    "always": ["never"],
    "sigv4": ["none"],
    "notBreaching": ["breaching"],
    "breaching": ["notBreaching"],
    "GreaterThanThreshold": ["LessThanThreshold"],
    "GreaterThanOrEqualToThreshold": ["LessThanThreshold"],
    "Maximum": ["Minimum"],
    "Sum": ["Minimum"],
    "Average": ["Minimum"],
    "BucketOwnerEnforced": ["ObjectWriter"],
    "ReportBatchItemFailures": [""],
    "Active": ["PassThrough"],
    "PassThrough": ["Active"],
    "StringEquals": ["StringLike"],
    "ArnEquals": ["ArnLike"],
    "2.0": ["1.0"],
    "HTTP": ["WEBSOCKET"],
    "AWS_PROXY": ["HTTP_PROXY"],
    "python3.12": ["python3.11"],
    "arm64": ["x86_64"],
    "x86_64": ["arm64"],
}
# for_each keys whose sibling is the other half of a pair.
KEY_SWAPS = {"jobs": "variants", "variants": "jobs", "input": "output", "output": "input"}
# Arguments whose removal changes nothing a check could see: words for people.
NOT_BEHAVIOUR = {"description", "comment", "error_message", "alarm_description", "sid", "tags"}
GUARDS = {"condition", "precondition", "postcondition", "validation"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_ASSIGN = re.compile(r"^(\s*)([a-z_0-9]+)(\s*=\s*)(.+?)\s*$")
_BLOCK = re.compile(r'^\s*([a-z_0-9]+)(\s+"[^"]*")*\s*\{\s*$')
_REF = re.compile(r"\b(aws_[a-z0-9_]+)\.([a-z0-9_]+)\b")


@dataclass(frozen=True)
class Mutant:
    """One change to one file of the configuration."""

    file: str  # relative to terraform/
    line: int  # 1-based, where the change starts
    operator: str
    detail: str
    text: str  # the whole mutated file

    @property
    def id(self) -> str:
        """A name stable while the line's text is unchanged: file, operator and what changed."""
        return f"{self.file}:{self.operator}:{self.detail}"


def _code(line: str) -> str:
    """The line without its strings and comment: what braces and brackets count in."""
    return re.sub(r"\s*(#|//).*$", "", _STRING.sub('""', line))


def _depths(lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    """(index, the stack of enclosing block names) for each line, the block a line opens not included."""
    stack: list[str] = []
    for i, line in enumerate(lines):
        yield i, list(stack)
        code = _code(line)
        opened = _BLOCK.match(line)
        if opened:
            stack.append(opened.group(1))
            continue
        for ch in code:
            if ch == "{":
                stack.append("{")
            elif ch == "}" and stack:
                stack.pop()


def _span(lines: list[str], start: int, open_ch: str, close_ch: str) -> int:
    """The index of the line that closes what `start` opens (brackets or braces counted outside strings)."""
    depth = 0
    for j in range(start, len(lines)):
        code = _code(lines[j])
        depth += code.count(open_ch) - code.count(close_ch)
        if depth <= 0:
            return j
    return start


def _splice(lines: list[str], start: int, end: int, new: list[str]) -> str:
    """The file with lines start..end (inclusive) replaced by new (none: removed)."""
    return "\n".join([*lines[:start], *new, *lines[end + 1 :]]) + "\n"


def _siblings(directory: Path) -> dict[str, list[str]]:
    """Resource and data names by type, across the module: what a reference can be swapped for."""
    names: dict[str, list[str]] = {}
    for path in sorted(directory.glob("*.tf")):
        for kind, name in re.findall(r'^(?:resource|data) "(aws_[a-z0-9_]+)" "([a-z0-9_]+)"', path.read_text(), re.M):
            names.setdefault(kind, []).append(name)
    return names


@dataclass(frozen=True)
class _Line:
    """One line of a file, where it stands, and what the operators need to know of the file."""

    lines: list[str]
    i: int
    top: str  # the kind of top-level block it is in: resource, data, variable, locals, output, module ("" outside)
    inner: bool  # inside a block, not a top-level header
    siblings: dict[str, list[str]]

    @property
    def line(self) -> str:
        """Its text."""
        return self.lines[self.i]

    @property
    def code(self) -> str:
        """Its text without strings and comment."""
        return _code(self.line)

    def to(self, new: str | None) -> str:
        """The file with this line replaced (None: removed)."""
        return _splice(self.lines, self.i, self.i, [] if new is None else [new])


_Change = tuple[str, str, str]  # operator, what changed, the mutated file
_IN_RESOURCES = ("resource", "data", "module")


def _blocks(x: _Line) -> Iterator[_Change]:
    opened = _BLOCK.match(x.line)
    if opened and x.inner and (opened.group(1) in GUARDS or x.top in _IN_RESOURCES):
        end = _span(x.lines, x.i, "{", "}")
        # Named by its first line inside: "precondition {" alone says nothing
        inside = next((y.strip()[:50] for y in x.lines[x.i + 1 : end] if not y.strip().startswith("#")), "")
        operator = "drop-guard" if opened.group(1) in GUARDS else "drop-block"
        yield operator, f"{opened.group(1)} {{{inside}}}", _splice(x.lines, x.i, end, [])


def _assignments(x: _Line) -> Iterator[_Change]:
    a = _ASSIGN.match(x.line)
    if not a or x.top not in (*_IN_RESOURCES, "locals", "variable"):
        return
    indent, name, eq, value = a.groups()
    balanced = all(x.code.count(o) == x.code.count(c) for o, c in ("[]", "{}", "()"))
    if x.top in _IN_RESOURCES and name not in NOT_BEHAVIOUR and balanced:
        yield "drop-arg", name, x.to(None)
    if name == "resources" and x.top == "data":
        end = _span(x.lines, x.i, "[", "]")
        yield "widen-resource", name, _splice(x.lines, x.i, end, [f'{indent}resources = ["*"]'])
    if value in ("true", "false"):
        yield "flip-bool", name, x.to(f"{indent}{name}{eq}{'false' if value == 'true' else 'true'}")
    if re.fullmatch(r"\d+", value):
        n = int(value)
        new = {0: 1, 1: 2}.get(n, n // 2)
        yield "number", f"{name} {n}->{new}", x.to(f"{indent}{name}{eq}{new}")


def _values(x: _Line) -> Iterator[_Change]:
    if x.top in (*_IN_RESOURCES, "variable"):
        for literal in re.findall(r'"([^"\\]*)"', x.line):
            for alternative in ENUMS.get(literal, []):
                yield "enum", f"{literal}->{alternative}", x.to(x.line.replace(f'"{literal}"', f'"{alternative}"', 1))
    if x.top in ("resource", "data"):
        action = re.search(r'"([a-z0-9-]+):([A-Za-z]+)"', x.line)
        if action and not x.line.lstrip().startswith(("identifiers", "values", "variable", "test")):
            yield "widen-action", action.group(0), x.to(x.line.replace(action.group(0), f'"{action.group(1)}:*"', 1))


def _references(x: _Line) -> Iterator[_Change]:
    if x.top not in (*_IN_RESOURCES, "locals", "output"):
        return
    ref = _REF.search(x.code)
    if ref and len(x.siblings.get(ref.group(1), [])) > 1:
        kind, name = ref.groups()
        other = next(n for n in x.siblings[kind] if n != name)
        swapped = re.sub(rf"\b{kind}\.{name}\b", f"{kind}.{other}", x.line, count=1)
        yield "swap-ref", f"{ref.group(0)}->{other}", x.to(swapped)
    key = re.search(r'\["(jobs|variants|input|output)"\]', x.line)
    if key:
        swapped = KEY_SWAPS[key.group(1)]
        yield "swap-ref", f"{key.group(0)}->{swapped}", x.to(x.line.replace(key.group(0), f'["{swapped}"]', 1))


def _conditions(x: _Line) -> Iterator[_Change]:
    if "condition" in x.line or x.top == "locals":
        for old, new in ((">=", ">"), ("<=", "<"), (" == ", " != "), ("&&", "||")):
            if old in x.code:
                yield "compare", f"{old.strip()}->{new.strip()}", x.to(x.line.replace(old, new, 1))


def _lists(x: _Line) -> Iterator[_Change]:
    if x.top in _IN_RESOURCES and re.search(r"=\s*\[([^\[\]]+)\]\s*$", x.code):
        values = [v.strip() for v in _list_items(x.line)]
        for k, value in enumerate(values[:3]):
            rest = ", ".join(v for j, v in enumerate(values) if j != k)
            yield "drop-item", value[:40], x.to(re.sub(r"\[[^\[\]]*\]\s*$", f"[{rest}]", x.line))


OPERATORS = (_blocks, _assignments, _values, _references, _conditions, _lists)


def mutants_of(rel: str, text: str, siblings: dict[str, list[str]]) -> Iterator[Mutant]:
    """Every mutant of one file."""
    lines = text.splitlines()
    for i, stack in _depths(lines):
        x = _Line(lines, i, stack[0] if stack else "", bool(stack), siblings)
        for operator in OPERATORS:
            for name, detail, mutated in operator(x):
                yield Mutant(rel, i + 1, name, f"{detail} @{lines[i].strip()[:60]}", mutated)


def _list_items(line: str) -> list[str]:
    inside = line[line.rindex("[") + 1 : line.rindex("]")]
    return [v for v in re.findall(r'"(?:[^"\\]|\\.)*"|[^,\s][^,]*', inside) if v.strip()]


def mutants(directory: Path = TF_DIR) -> list[Mutant]:
    """Every mutant of the root module and its function module, in a stable order."""
    out: list[Mutant] = []
    for module in (directory, directory / "modules" / "function"):
        siblings = _siblings(module)
        for path in sorted(module.glob("*.tf")):
            if path.name == "versions.tf":
                continue  # the provider pin: a change there is a different provider, not a mutant
            rel, text = str(path.relative_to(directory)), path.read_text()  # read once, not once a mutant
            out += [mu for mu in mutants_of(rel, text, siblings) if mu.text != text]
    # The same change to the same text twice in a file: numbered in order, so each id names one mutant.
    seen: dict[str, int] = {}
    numbered = []
    for mu in out:
        seen[mu.id] = seen.get(mu.id, 0) + 1
        numbered.append(replace(mu, detail=f"{mu.detail} #{seen[mu.id]}") if seen[mu.id] > 1 else mu)
    return numbered


def sample(every: list[Mutant], count: int, seed: int) -> list[Mutant]:
    """count mutants, as many of each operator as the others (round robin over a seeded shuffle of each)."""
    by_operator: dict[str, list[Mutant]] = {}
    for mu in every:
        by_operator.setdefault(mu.operator, []).append(mu)
    rng = random.Random(seed)
    for group in by_operator.values():
        rng.shuffle(group)
    out: list[Mutant] = []
    while len(out) < min(count, len(every)):
        for group in by_operator.values():
            if group and len(out) < count:
                out.append(group.pop())
    return out


def accepted() -> dict[str, str]:
    """The survivors written down as harmless: id (or a glob over ids, for a class) -> why."""
    out: dict[str, str] = {}
    if ACCEPTED.exists():
        for line in ACCEPTED.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                mutant_id, _, why = line.partition("  # ")
                out[mutant_id.strip()] = why.strip()
    return out


class Workspace:
    """A copy of terraform/ initialised once, where one mutant at a time is written, checked and put back."""

    def __init__(self, env: dict[str, str]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tf-mutate-"))
        shutil.copytree(TF_DIR, self.dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
        self.env = {**env, "IMGPIPE_TF_DIR": str(self.dir)}
        self._run(["terraform", "init", "-backend=false", "-input=false", "-no-color"], 300, check=True)

    def _run(self, argv: list[str], timeout: float, check: bool = False) -> subprocess.CompletedProcess[str]:
        cwd = ROOT if argv[0] != "terraform" else self.dir
        return subprocess.run(argv, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout, check=check)

    def _pytest(self, args: list[str]) -> bool:
        argv = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *args]
        return self._run(argv, 300).returncode == 0

    def verdict(self, mutant: Mutant, review: bool = True, review_first: bool = False) -> str:
        """STILLBORN (terraform refuses it), one of KILLED_BY, or SURVIVED; the review gate only when review.

        review_first asks only whether anything kills it, cheapest first (seconds, not terraform test's half
        minute): what make test asks of a sample.
        """
        path = self.dir / mutant.file
        original = path.read_text()
        path.write_text(mutant.text)
        try:
            if self._run(["terraform", "validate", "-no-color"], 120).returncode != 0:
                return STILLBORN
            if review_first and not self._pytest(REVIEW_TESTS):
                return KILLED_BY[2]
            if not self._pytest(SEMANTIC_TESTS):
                return KILLED_BY[0]
            if self._run(["terraform", "test", "-no-color"], 900).returncode != 0:
                return KILLED_BY[1]
            if review and not self._pytest(REVIEW_TESTS):
                return KILLED_BY[2]
            return SURVIVED
        finally:
            path.write_text(original)

    def close(self) -> None:
        """Remove the copy."""
        shutil.rmtree(self.dir, ignore_errors=True)


STILLBORN, SURVIVED = "stillborn", "survived"
KILLED_BY = ("killed: static tests", "killed: terraform test", "killed: review gate only")


def main(argv: list[str] | None = None) -> int:
    """Run the mutants, print each verdict and the score; exit 1 when a survivor is not written down."""
    parser = argparse.ArgumentParser(prog="make tf-mutate", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", default="60", help="how many mutants (a sample across operators), or 'all'")
    parser.add_argument("--seed", type=int, default=0, help="the sample's seed (default 0)")
    parser.add_argument("--jobs", type=int, default=2, help="copies of terraform/ checked at once (default 2)")
    parser.add_argument("--semantic", action="store_true", help="without the review gate: what the tests alone miss")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    args = parser.parse_args(argv)
    every = mutants()
    chosen = every if args.count == "all" else sample(every, int(args.count), args.seed)
    if args.list:
        for mu in chosen:
            print(f"{mu.file}:{mu.line}  {mu.id}")
        print(f"{len(chosen)} of {len(every)} mutants")
        return 0
    cfg, why = cli_config()
    if cfg is None:
        print(f"tf-mutate: cannot run: {why}", file=sys.stderr)
        return 2
    # A SIGTERM (a CI timeout, kill) stops after the mutants being checked and removes the copies.
    stop = threading.Event()

    def stopped(*_: object) -> None:
        stop.set()
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, stopped)
    env = {**os.environ, "TF_CLI_CONFIG_FILE": cfg}
    print(f"tf-mutate: {len(chosen)} of {len(every)} mutants, {args.jobs} at a time", file=sys.stderr, flush=True)
    started = time.monotonic()
    workspaces: list[Workspace] = []
    results: dict[str, str] = {}
    try:
        workspaces += [Workspace(env) for _ in range(max(1, args.jobs))]

        def check(k: int) -> None:
            for mu in chosen[k :: len(workspaces)]:
                if stop.is_set():
                    return
                results[mu.id] = workspaces[k].verdict(mu, review=not args.semantic)
                print(f"  {results[mu.id]:<26} {mu.file}:{mu.line} {mu.operator} {mu.detail}", flush=True)

        with ThreadPoolExecutor(len(workspaces)) as pool:
            list(pool.map(check, range(len(workspaces))))
    finally:
        for ws in workspaces:
            ws.close()
    code = report(chosen, results, accepted(), time.monotonic() - started)
    return 0 if args.semantic else code  # without the gate it reports; with it, an unexplained survivor fails


def report(chosen: list[Mutant], results: dict[str, str], known: dict[str, str], seconds: float) -> int:
    """The score, what killed what, and the survivors (each accepted with why, or not); 1 if one is not."""
    by = {k: sum(v == k for v in results.values()) for k in KILLED_BY}
    killed = sum(by.values())
    survivors = [mu for mu in chosen if results.get(mu.id) == SURVIVED]
    counted = killed + len(survivors)
    semantic = by[KILLED_BY[0]] + by[KILLED_BY[1]]
    stillborn = sum(v == STILLBORN for v in results.values())
    print(
        f"tf-mutate: score {_pct(killed, counted)} ({killed} of {counted} killed: {by[KILLED_BY[0]]} by the static "
        f"tests, {by[KILLED_BY[1]]} by terraform test, {by[KILLED_BY[2]]} by the review gate only; semantic score "
        f"{_pct(semantic, counted)}); {stillborn} refused by terraform validate; {len(survivors)} survived; "
        f"{seconds:.0f} s"
    )
    unexplained = [mu for mu in survivors if why_accepted(mu.id, known) is None]
    for mu in survivors:
        why = why_accepted(mu.id, known)
        print(f"  survived {mu.file}:{mu.line} {mu.id}" + (f"  (accepted: {why})" if why else "  (NOT ACCEPTED)"))
    if unexplained:
        print(f"tf-mutate: {len(unexplained)} survivor(s) neither killed nor accepted in {ACCEPTED.relative_to(ROOT)}")
        return 1
    return 0


def why_accepted(mutant_id: str, known: dict[str, str]) -> str | None:
    """Why this survivor is harmless, if it is written down (by its id, or by a glob naming its class)."""
    if mutant_id in known:
        return known[mutant_id]
    return next((why for pattern, why in known.items() if fnmatch.fnmatchcase(mutant_id, pattern)), None)


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "n/a"


if __name__ == "__main__":
    sys.exit(main())
