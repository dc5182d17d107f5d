"""No secrets in the repository."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import ROOT

PATTERNS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS secret key": re.compile(r"aws_secret_access_key\s*[=:]\s*['\"]?(?!test\b)[A-Za-z0-9/+]{40}"),
    "LocalStack token": re.compile(r"LOCALSTACK_AUTH_TOKEN\s*[=:]\s*['\"]?ls-[A-Za-z0-9-]{8,}"),
}


def test_no_secret_or_real_credential_is_committed() -> None:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert files
    hits = []
    for name in files:
        path = ROOT / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_bytes().decode("utf-8", "ignore")
        hits += [f"{name}: {what}" for what, pat in PATTERNS.items() if pat.search(text)]
    assert not hits, hits
