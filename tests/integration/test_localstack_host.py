"""LocalStack embedded without Docker: its init hook bootstraps, and Lambda functions deploy but never run."""

from __future__ import annotations

import io
import json
import os
import urllib.request
import zipfile

import pytest

from pipeline.aws import make_clients
from pipeline.local.emulator import evaluates_alarms
from pipeline.settings import Settings
from tests import containers

pytestmark = pytest.mark.skipif(
    os.environ.get("EMULATOR") != "localstack" or bool(os.environ.get("AWS_ENDPOINT_URL")) or containers.wanted(),
    reason="LocalStack host-mode checks: run with EMULATOR=localstack, embedded (make test runs a LocalStack leg)",
)


def test_the_init_hook_bootstrapped_the_default_stack(endpoint: str) -> None:
    with urllib.request.urlopen(f"{endpoint}/_localstack/init/ready", timeout=5) as resp:
        state = json.loads(resp.read())
    assert state["completed"] is True
    assert [(s["name"], s["state"]) for s in state["scripts"]] == [("10-bootstrap.sh", "SUCCESSFUL")]
    settings = Settings.from_env({"AWS_ENDPOINT_URL": endpoint})
    clients = make_clients(settings)
    assert clients.sqs.get_queue_url(QueueName=settings.names.queue_name)["QueueUrl"].startswith(endpoint)
    assert clients.dynamodb.describe_table(TableName=settings.names.table_name)["Table"]["TableStatus"] == "ACTIVE"
    assert evaluates_alarms(endpoint)


def test_functions_deploy_and_become_active_but_never_run(endpoint: str) -> None:
    settings = Settings.from_env({"AWS_ENDPOINT_URL": endpoint})
    clients = make_clients(settings)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return 1\n")
    lam = clients._client("lambda")  # the factory makes any service's client; the pipeline itself needs no Lambda
    name = f"hostmode-{os.getpid()}"
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/any",
        Handler="index.handler",
        Code={"ZipFile": buf.getvalue()},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    with pytest.raises(lam.exceptions.ServiceException) as refused:
        lam.invoke(FunctionName=name, Payload=b"{}")
    # THEN the invocation fails, and says why (our executor's refusal, through LocalStack's error)
    assert "LocalStack runs here without" in str(refused.value), refused.value
