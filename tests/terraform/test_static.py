"""terraform/ read as data: conventions, least privilege, and the handler's environment."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as hs

from pipeline.formats import BY_SETTING, FALLBACK_WORD
from pipeline.settings import Settings, parse_renditions
from tests.terraform.tf import FUNCTION_MODULE, ROOT, TF_DIR, blocks, cli_config, statements


def test_files_split_by_concern() -> None:
    names = {p.name for p in TF_DIR.glob("*.tf")}
    assert {
        "versions.tf",
        "variables.tf",
        "outputs.tf",
        "storage.tf",
        "queue.tf",
        "table.tf",
        "function.tf",
        "notifications.tf",
        "monitoring.tf",
        "iam.tf",
        "artifacts.tf",
    } <= names
    assert (TF_DIR / ".terraform.lock.hcl").exists() and (TF_DIR / "terraform.tfvars.example").exists()


def test_provider_constraint_is_the_tested_one() -> None:
    text = (TF_DIR / "versions.tf").read_text()
    assert 'required_version = ">= 1.5"' in text and 'version = "~> 5.100"' in text


def test_every_variable_is_typed_and_described_and_every_output_described() -> None:
    for (name,), body in blocks("variable").items():
        assert body.get("type") and body.get("description"), name
    outputs = blocks("output")
    assert outputs
    for (name,), body in outputs.items():
        assert body.get("description"), name


def test_no_build_steps_stage_flags_accounts_or_endpoints() -> None:
    text = "\n".join(p.read_text() for p in TF_DIR.glob("*.tf"))
    assert "null_resource" not in text and "local-exec" not in text
    assert not re.search(r"\b\d{12}\b", text), "hard-coded account id"
    assert "localhost" not in text and "4566" not in text and "endpoint_url" not in text
    assert not re.search(r'var\.stage\b|variable "stage"|\bSTAGE\b', text), "a STAGE flag"


def test_iam_grants_name_their_actions_and_resources() -> None:
    # Which grants are right is proven by enforcement (test_permissions.py); here, the shape: no wildcard action
    # or resource in either role's policy, and nothing attached but AWS's X-Ray write policy.
    for name in ("this", "api"):
        doc = blocks("data")[("aws_iam_policy_document", name)]
        for st in statements(doc):  # the dynamic ones too (the CMYK profile's read, the API's presigned GETs)
            assert st.get("sid"), st
            assert not any("*" in a for a in st["actions"]), st
            assert "*" not in st["resources"], st
    resources = blocks("resource", FUNCTION_MODULE)
    attachments = [b for (kind, _), b in resources.items() if kind == "aws_iam_role_policy_attachment"]
    assert {a["policy_arn"] for a in attachments} == {"arn:${var.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"}
    assert resources[("aws_iam_role_policy", "this")]["policy"] == "${var.policy_json}"
    assert not any(kind.startswith("aws_iam") for (kind, _) in blocks("resource")), "roles only in modules/function"


def test_the_api_is_never_open() -> None:
    route = blocks("resource")[("aws_apigatewayv2_route", "this")]
    assert route["authorization_type"] == '${var.api_auth == "jwt" ? "JWT" : "AWS_IAM"}'
    assert blocks("variable")[("api_auth",)]["default"] == "iam"
    assert "NONE" not in (TF_DIR / "api.tf").read_text()


def settings_read(var: str) -> bool:
    """Whether Settings.from_env() reads the variable: some value of it changes the settings (read, not grepped)."""
    base = Settings.from_env({})
    for value in ("7", "x-7", "fallback,avif", "a:7x7", ""):
        try:
            if Settings.from_env({var: value}) != base:
                return True
        except ValueError:
            continue
    return False


def test_lambda_environment_uses_the_names_settings_reads() -> None:
    modules = blocks("module")
    for name, handler in (("processor", "pipeline.handler.lambda_handler"), ("api", "pipeline.api.handler")):
        mod = modules[(name,)]
        assert mod["source"] == "./modules/function" and mod["handler"] == handler
        assert mod["package"] == "${local.package}", "both functions run the one uploaded package"
        for var in mod["environment"]:
            if not var.startswith("POWERTOOLS_"):
                assert settings_read(var), f"{name}: {var} is not read by Settings.from_env()"
    fn = blocks("resource", FUNCTION_MODULE)[("aws_lambda_function", "this")]
    assert fn["s3_object_version"] == "${var.package.version}" and fn["source_code_hash"] == "${var.package.sha256_b64}"
    package = blocks("resource")[("aws_s3_object", "package")]
    assert package["source"] == "${var.lambda_zip_path}" and "filesha256(var.lambda_zip_path)" in package["key"]


def test_queue_dlq_and_mapping_numbers() -> None:
    res = blocks("resource")
    q = res[("aws_sqs_queue", "this")]
    assert q["for_each"] == "${local.work_queues}"
    assert q["visibility_timeout_seconds"] == "${local.visibility_s}"
    assert "6 * var.lambda_timeout_s" in (TF_DIR / "main.tf").read_text()
    assert q["message_retention_seconds"] == 86400 and q["sqs_managed_sse_enabled"] is True
    assert res[("aws_sqs_queue", "dlq")]["message_retention_seconds"] == 1209600
    esm = res[("aws_lambda_event_source_mapping", "this")]
    assert esm["function_response_types"] == ["ReportBatchItemFailures"]
    variables = blocks("variable")
    assert variables[("batch_size",)]["default"] == 10 and variables[("max_receive_count",)]["default"] == 3
    assert variables[("lambda_timeout_s",)]["default"] == 60 and variables[("lambda_memory_mb",)]["default"] == 512
    notif = res[("aws_s3_bucket_notification", "input")]
    assert notif["depends_on"] == ["${aws_sqs_queue_policy.this}"]


def test_every_checkov_skip_is_justified() -> None:
    for path in TF_DIR.glob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                assert re.search(r"checkov:skip=CKV2?_AWS_\d+: \S.{15,}", line), f"{path.name}: {line.strip()}"


def test_make_tf_check() -> None:
    cfg, why = cli_config()
    if cfg is None:
        pytest.skip(f"make tf-check needs terraform and its provider mirror: {why}")
    proc = subprocess.run(
        ["make", "--no-print-directory", "tf-check"], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Failed checks: 0" in proc.stdout and "The configuration is valid" in proc.stdout
    assert "Success!" in proc.stdout and "0 failed" in proc.stdout  # terraform test: every precondition run


def test_every_alarm_tells_operators_when_it_fires_and_when_it_clears() -> None:
    alarms = {name: b for (kind, name), b in blocks("resource").items() if kind == "aws_cloudwatch_metric_alarm"}
    assert {"dlq", "errors", "throttles", "oldest_message", "duration", "api_errors", "api_5xx"} <= set(alarms)
    for name, body in alarms.items():
        assert body["alarm_actions"] == "${local.alarm_actions}", name
        assert body["ok_actions"] == "${local.alarm_actions}", name


def test_the_lock_file_job_covers_five_platforms() -> None:
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "terraform-lock.yml").read_text())
    steps = workflow["jobs"]["lock"]["steps"]
    runs = " ".join(s.get("run", "") for s in steps)
    assert "make tf-lock" in runs and "git diff --exit-code -- terraform/.terraform.lock.hcl" in runs
    makefile = (ROOT / "Makefile").read_text()
    for platform in ("linux_amd64", "linux_arm64", "darwin_amd64", "darwin_arm64", "windows_amd64"):
        assert platform in makefile.split("TF_LOCK_PLATFORMS :=", 1)[1].splitlines()[0], platform
    pins = [s["uses"].split("@", 1)[1] for s in steps if "uses" in s]
    assert pins and all(re.fullmatch(r"[0-9a-f]{40}", pin) for pin in pins), "actions pinned to commits"


def test_the_backend_example_locks_its_state() -> None:
    text = (TF_DIR / "backend.tf.example").read_text()
    assert 'backend "s3"' in text and "use_lockfile = true" in text and "encrypt      = true" in text
    assert not (TF_DIR / "backend.tf").exists(), "the example stays an example: tests and tflocal use local state"


def test_the_format_validations_are_the_format_table() -> None:
    # The formats are one table (pipeline/formats.py); terraform cannot read it, so it is held to it here: a
    # format added there and not here would pass the settings and be refused at plan time, or the reverse.
    variables = (TF_DIR / "variables.tf").read_text()
    formats_rule = re.search(r'variable "formats".*?contains\(\[("[^]]*")\], f\)', variables, re.DOTALL)
    defer_rule = re.search(r'variable "defer_formats".*?contains\(\[("[^]]*")\], replace', variables, re.DOTALL)
    assert formats_rule and defer_rule
    assert _words(formats_rule.group(1)) == sorted([FALLBACK_WORD, *BY_SETTING])
    assert _words(defer_rule.group(1)) == sorted(["", *(w for w, f in BY_SETTING.items() if f.deferrable)])


_SIZE_TOKENS = hs.sampled_from(["crop", "fallback", "webp", "avif", "gif", "+", ":", "x", "0", "15", "a", "A", "-"])


@settings(max_examples=300, deadline=None)
@given(
    name=hs.sampled_from(["thumb", "a", "x-1", "Big", "1st", ""]),
    width=hs.integers(0, 3000),
    height=hs.integers(0, 3000),
    options=hs.lists(hs.lists(_SIZE_TOKENS, min_size=1, max_size=4).map("".join), max_size=3),
)
@example("thumb", 150, 150, ["webp", "crop"])
@example("thumb", 150, 150, ["crop", "fallback+webp+avif"])
@example("thumb", 150, 150, ["fallback+"])
@example("thumb", 150, 150, ["crop", "crop"])
def test_the_renditions_validation_accepts_what_the_settings_accept(
    name: str, width: int, height: int, options: list[str]
) -> None:
    # A size terraform lets through and the function refuses fails every invocation at start (all to the DLQ);
    # the reverse refuses a working setting at plan time. The rule is regex in HCL: held to the parser here.
    variables = (TF_DIR / "variables.tf").read_text()
    rule = re.search(r'variable "renditions".*?can\(regex\("((?:[^"\\]|\\.)*)", size\)\)', variables, re.DOTALL)
    assert rule
    pattern = re.compile(rule.group(1).replace("\\\\", "\\"))
    size = ":".join([f"{name}:{width}x{height}", *options])
    try:
        parse_renditions(size)
        settings_accept = True
    except ValueError:
        settings_accept = False
    assert bool(pattern.fullmatch(size)) == settings_accept, size


def _local(name: str) -> Any:
    return blocks("locals")[(name,)]


def _words(listed: str) -> list[str]:
    return sorted(re.findall(r'"([^"]*)"', listed))


def test_every_queue_has_an_age_alarm() -> None:
    # The variants queue had none: AVIF jobs could wait for hours, images "AVIF coming", and nobody was told.
    resources = blocks("resource")
    age = resources[("aws_cloudwatch_metric_alarm", "oldest_message")]
    assert age["metric_name"] == "ApproximateAgeOfOldestMessage" and age["for_each"] == "${local.queue_age_alarms}"
    assert age["dimensions"] == {"QueueName": "${aws_sqs_queue.this[each.key].name}"}
    # every work queue is watched (the DLQ alarms on depth): the alarms' table has the queues' keys
    assert set(_local("work_queues")) == set(_local("queue_age_alarms")) == {"jobs", "variants"}


def test_every_function_has_a_throttle_alarm() -> None:
    # Only the processor had one: the upload API's function could be throttled (its callers getting errors) and
    # nobody was told. The alarms are a table over the functions.
    functions = {name for (name,), body in blocks("module").items() if body["source"] == "./modules/function"}
    watched = {v["function"] for v in _local("throttle_alarms").values()}
    assert watched == {f"${{module.{name}.function_name}}" for name in functions}
    alarm = blocks("resource")[("aws_cloudwatch_metric_alarm", "throttles")]
    assert alarm["for_each"] == "${local.throttle_alarms}" and alarm["metric_name"] == "Throttles"
