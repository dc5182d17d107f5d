#!/usr/bin/env bash
# Write a terraform CLI config that installs hashicorp/aws from a local filesystem mirror, if one exists.
# Prints the config's path; exits 1 (saying why) when terraform or the mirror is missing
# (TF_ALLOW_REGISTRY=1: use the public registry instead, on machines that reach it).
set -euo pipefail
out=${1:-.tfcli/terraformrc}
if ! command -v terraform >/dev/null 2>&1; then
  echo "terraform is not installed: the terraform targets need it" >&2
  exit 1
fi
mirror=${TF_PROVIDER_MIRROR:-}
if [ -z "$mirror" ]; then
  for d in /opt/tf-plugins /usr/share/terraform/plugins /usr/local/share/terraform/plugins "$HOME/.terraform.d/plugins"; do
    if [ -d "$d/registry.terraform.io/hashicorp/aws" ]; then mirror=$d; break; fi
  done
fi
if [ -z "$mirror" ]; then
  found=$(find / -xdev -type d -path '*/registry.terraform.io/hashicorp/aws' 2>/dev/null | head -n 1 || true)
  mirror=${found%/registry.terraform.io/hashicorp/aws}
fi
if [ -z "$mirror" ] && [ "${TF_ALLOW_REGISTRY:-}" = 1 ]; then
  # A machine that reaches the registry (CI with internet) installs the provider from it as usual.
  mkdir -p "$(dirname "$out")" && : > "$out"
  echo "$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
  exit 0
fi
if [ -z "$mirror" ]; then
  echo "no filesystem mirror of hashicorp/aws found (set TF_PROVIDER_MIRROR): the terraform targets need one here" >&2
  exit 1
fi
mkdir -p "$(dirname "$out")"
cat > "$out" <<CFG
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }
}
CFG
echo "$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
