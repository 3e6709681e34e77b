"""``manage.py asyncimg_deploy``: deploy the processor with values from settings.

``--cloud aws`` (the default): builds the ``sam build`` and ``sam deploy`` command lines, filling
the stack parameters from the ``ASYNC_IMAGE_UPLOAD_*`` settings and asking for what settings
cannot say (stack name, callback secret location, CORS origins) unless given as options.

``--cloud gcp``: ``gcloud`` commands for the bucket (CORS, lifecycle rule for abandoned raw
uploads), the callback secret in Secret Manager, a service account with roles on the bucket and
the secret only, a dead-letter topic, and either the Cloud Run function with its Eventarc
trigger (``--processor function``) or the Pub/Sub topic, bucket notification and subscription
``asyncimg_worker --source pubsub`` reads (``--processor worker``).

``--cloud azure``: ``az deployment group create`` of ``azure/main.bicep`` (package data), then, for
the function, a zip deployment of the staged Function App and a second deployment that adds the
Event Grid subscription (it needs the function to exist).

``--dry-run`` prints the commands as a shell script (values a step reads from an earlier one
appear as shell variables); secrets travel on standard input or in a private file, never on a
command line.
"""

# Command lines are written one option group per line, joined with +: they read like the
# commands they print.
# ruff: noqa: RUF005
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

import asyncimg_processor
from asyncimg.conf import app_settings

PACKAGE = Path(asyncimg_processor.__file__).resolve().parent
#: The SAM template and the function's requirements, shipped in the wheel as package data.
SAM_DIR = PACKAGE / "sam"
TEMPLATE = SAM_DIR / "template.yaml"
SAM_INSTALL_URL = (
    "https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/"
    "install-sam-cli.html"
)


@dataclass(frozen=True)
class DeployPlan:
    stack_name: str
    region: str
    parameters: dict[str, str]
    build_dir: Path = Path(".aws-sam/build")
    use_container: bool = False

    @property
    def source_dir(self) -> Path:
        """Where :meth:`stage` lays out the function's source for ``sam build``."""
        return self.build_dir.parent / "source"

    def stage(self) -> None:
        """``template.yaml`` and ``requirements.txt`` next to a copy of ``asyncimg_processor``:
        the layout the template's ``CodeUri: .`` expects, from a checkout or an installed wheel
        alike (site-packages cannot be a code directory: sam would upload all of it)."""
        shutil.rmtree(self.source_dir, ignore_errors=True)
        shutil.copytree(
            PACKAGE,
            self.source_dir / PACKAGE.name,
            ignore=shutil.ignore_patterns("sam", "__pycache__", "*.pyc"),
        )
        for name in ("template.yaml", "requirements.txt"):
            shutil.copy2(SAM_DIR / name, self.source_dir / name)

    def commands(self) -> list[list[str]]:
        build = [
            "sam",
            "build",
            "--template-file",
            str(self.source_dir / "template.yaml"),
            "--build-dir",
            str(self.build_dir),
        ]
        if self.use_container:
            build.append("--use-container")
        # sam's shorthand "Key=Value" pairs; quoting keeps commas and spaces inside one value.
        overrides = " ".join(f'{key}="{value}"' for key, value in self.parameters.items())
        deploy = [
            "sam",
            "deploy",
            "--template-file",
            str(self.build_dir / "template.yaml"),
            "--stack-name",
            self.stack_name,
            "--region",
            self.region,
            "--capabilities",
            "CAPABILITY_IAM",
            "--resolve-s3",
            "--no-fail-on-empty-changeset",
            "--parameter-overrides",
            overrides,
        ]
        return [build, deploy]


GCP_DIR = PACKAGE / "gcp"
AZURE_DIR = PACKAGE / "azure"
BICEP = AZURE_DIR / "main.bicep"


@dataclass(frozen=True)
class Ref:
    """A value an earlier step printed (``capture``): ``"${NAME}"`` in a dry run."""

    name: str
    prefix: str = ""
    suffix: str = ""


Arg = str | Ref


@dataclass(frozen=True)
class Step:
    command: Sequence[Arg]
    #: skip the step when this command succeeds and prints something (the thing exists)
    skip_if: Sequence[Arg] | None = None
    #: what the command reads on standard input (a secret), described in dry runs
    stdin: str | None = field(default=None, repr=False)
    stdin_note: str = ""
    #: remember the command's output under this name for later :class:`Ref`
    capture: str | None = None

    def script(self) -> str:
        line = _shell(self.command)
        if self.capture:
            line = f"{self.capture}=$({line})"
        if self.skip_if:
            line = f"{_shell(self.skip_if)} >/dev/null 2>&1 || {line}"
        if self.stdin_note:
            line = f"{line}  # stdin: {self.stdin_note}"
        return line


def _shell(command: Sequence[Arg]) -> str:
    return " ".join(
        shlex.quote(a)
        if isinstance(a, str)
        else (shlex.quote(a.prefix) if a.prefix else "")
        + f'"${{{a.name}}}"'
        + (shlex.quote(a.suffix) if a.suffix else "")
        for a in command
    )


def _resolve(command: Sequence[Arg], values: dict[str, str]) -> list[str]:
    return [a if isinstance(a, str) else f"{a.prefix}{values[a.name]}{a.suffix}" for a in command]


def run_steps(steps: list[Step], out: Any) -> None:
    values: dict[str, str] = {}
    for step in steps:
        if step.skip_if:
            check = subprocess.run(
                _resolve(step.skip_if, values), capture_output=True, text=True, check=False
            )
            if check.returncode == 0 and check.stdout.strip():
                out.write(f"# exists, skipped: {shlex.join(_resolve(step.command, values))}")
                continue
        command = _resolve(step.command, values)
        out.write(f"$ {shlex.join(command)}")
        try:
            result = subprocess.run(
                command,
                input=step.stdin,
                capture_output=bool(step.capture),
                text=True,
                check=True,
            )
        except subprocess.CalledProcessError as exc:
            raise CommandError(f"{command[0]} {command[1]} failed ({exc.returncode}).") from exc
        if step.capture:
            values[step.capture] = result.stdout.strip()


def _stage_package(target: Path) -> None:
    """A copy of ``asyncimg_processor`` without the deployment files of any cloud."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(
        PACKAGE,
        target / PACKAGE.name,
        ignore=shutil.ignore_patterns("sam", "gcp", "azure", "__pycache__", "*.pyc"),
    )


def processor_env() -> dict[str, str]:
    """The ``ASYNCIMG_*`` variables of the function, from settings (docs/processor.md)."""
    assert app_settings.BUCKET is not None
    return {
        "ASYNCIMG_BUCKET": app_settings.BUCKET,
        "ASYNCIMG_TEMPORARY_PREFIX": app_settings.TEMPORARY_IMAGE_PATH,
        "ASYNCIMG_PROCESSED_PREFIX": app_settings.PROCESSED_IMAGE_PATH,
        "ASYNCIMG_VARIANT_WIDTHS": ",".join(str(w) for w in app_settings.VARIANT_WIDTHS),
        "ASYNCIMG_VARIANT_FORMATS": ",".join(app_settings.VARIANT_FORMATS),
        "ASYNCIMG_MAX_PIXELS": str(app_settings.MAX_PIXELS),
        "ASYNCIMG_MAX_BYTES": str(app_settings.PRESIGNED_URL_CONTENT_LENGTH),
        "ASYNCIMG_ALLOWED_TYPES": ",".join(app_settings.ALLOWED_CONTENT_TYPES),
        "ASYNCIMG_ANALYZERS": ",".join(app_settings.ANALYZERS),
    }


@dataclass(frozen=True)
class GcpPlan:
    project: str
    region: str
    bucket: str
    callback_url: str
    callback_secret: str = field(repr=False)
    origins: list[str]
    processor: str = "function"
    secret_name: str = "asyncimg-callback-secret"  # noqa: S105 - its name, not its value
    function_name: str = "asyncimg-processor"
    topic: str = "asyncimg-uploads"
    subscription: str = "asyncimg-worker"
    service_account_name: str = "asyncimg-processor"
    memory: str = "2Gi"
    timeout: int = 60
    build_dir: Path = Path(".asyncimg-deploy/gcp")

    @property
    def source_dir(self) -> Path:
        return self.build_dir / "source"

    @property
    def service_account(self) -> str:
        return f"{self.service_account_name}@{self.project}.iam.gserviceaccount.com"

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.topic}-dead-letter"

    def stage(self) -> None:
        """The function's source (the package, ``main.py``, ``requirements.txt``) and the
        bucket's CORS and lifecycle files."""
        _stage_package(self.source_dir)
        for name in ("main.py", "requirements.txt"):
            shutil.copy2(GCP_DIR / name, self.source_dir / name)
        (self.build_dir / "cors.json").write_text(json.dumps(self.cors(), indent=2))
        (self.build_dir / "lifecycle.json").write_text(json.dumps(self.lifecycle(), indent=2))

    def cors(self) -> list[dict[str, Any]]:
        return [
            {
                "origin": self.origins,
                "method": ["POST", "GET", "HEAD"],
                "responseHeader": ["Content-Type", "ETag"],
                "maxAgeSeconds": 3600,
            }
        ]

    def lifecycle(self) -> dict[str, Any]:
        # Raw uploads nobody processed (refused, abandoned, dead-lettered): gone after a day.
        return {
            "rule": [
                {
                    "action": {"type": "Delete"},
                    "condition": {"age": 1, "matchesPrefix": [app_settings.TEMPORARY_IMAGE_PATH]},
                }
            ]
        }

    def steps(self) -> list[Step]:
        p = f"--project={self.project}"
        bucket = f"gs://{self.bucket}"
        sa = f"serviceAccount:{self.service_account}"
        dead_letter = f"projects/{self.project}/topics/{self.dead_letter_topic}"
        apis = ["storage.googleapis.com", "pubsub.googleapis.com", "secretmanager.googleapis.com"]
        if self.processor == "function":
            apis += [
                "cloudfunctions.googleapis.com",
                "run.googleapis.com",
                "cloudbuild.googleapis.com",
                "artifactregistry.googleapis.com",
                "eventarc.googleapis.com",
            ]
        steps = [
            Step(["gcloud", "services", "enable", *apis, p]),
            Step(
                ["gcloud", "storage", "buckets", "create", bucket, p, f"--location={self.region}"]
                + ["--uniform-bucket-level-access", "--public-access-prevention"],
                skip_if=["gcloud", "storage", "buckets", "describe", bucket, p],
            ),
            Step(
                ["gcloud", "storage", "buckets", "update", bucket, p]
                + [
                    f"--cors-file={self.build_dir / 'cors.json'}",
                    f"--lifecycle-file={self.build_dir / 'lifecycle.json'}",
                ]
            ),
            Step(
                ["gcloud", "secrets", "create", self.secret_name, p]
                + ["--replication-policy=automatic", "--data-file=-"],
                skip_if=["gcloud", "secrets", "describe", self.secret_name, p],
                stdin=self.callback_secret,
                stdin_note="the first of ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS",
            ),
            Step(
                ["gcloud", "iam", "service-accounts", "create", self.service_account_name, p]
                + ["--display-name=asyncimg image processor"],
                skip_if=["gcloud", "iam", "service-accounts", "describe", self.service_account, p],
            ),
            # Least privilege: objects of this bucket, this one secret (docs/processor.md).
            Step(
                ["gcloud", "storage", "buckets", "add-iam-policy-binding", bucket]
                + [f"--member={sa}", "--role=roles/storage.objectUser"]
            ),
            Step(
                ["gcloud", "secrets", "add-iam-policy-binding", self.secret_name, p]
                + [f"--member={sa}", "--role=roles/secretmanager.secretAccessor"]
            ),
            # Cloud Storage publishes notifications (and Eventarc's events) as its service agent.
            Step(["gcloud", "storage", "service-agent", p], capture="GCS_AGENT"),
            Step(
                [
                    *("gcloud", "projects", "add-iam-policy-binding", self.project),
                    Ref("GCS_AGENT", prefix="--member=serviceAccount:"),
                    *("--role=roles/pubsub.publisher", "--condition=None"),
                ]
            ),
            Step(
                ["gcloud", "pubsub", "topics", "create", self.dead_letter_topic, p],
                skip_if=["gcloud", "pubsub", "topics", "describe", self.dead_letter_topic, p],
            ),
            Step(
                ["gcloud", "projects", "describe", self.project, "--format=value(projectNumber)"],
                capture="PROJECT_NUMBER",
            ),
        ]
        pubsub_agent = Ref(
            "PROJECT_NUMBER",
            prefix="--member=serviceAccount:service-",
            suffix="@gcp-sa-pubsub.iam.gserviceaccount.com",
        )
        subscription: Arg
        if self.processor == "worker":
            subscription = self.subscription
            steps += [
                Step(
                    ["gcloud", "pubsub", "topics", "create", self.topic, p],
                    skip_if=["gcloud", "pubsub", "topics", "describe", self.topic, p],
                ),
                Step(
                    ["gcloud", "storage", "buckets", "notifications", "create", bucket]
                    + [f"--topic=projects/{self.project}/topics/{self.topic}"]
                    + ["--event-types=OBJECT_FINALIZE", "--payload-format=json"]
                    + [f"--object-prefix={app_settings.TEMPORARY_IMAGE_PATH}"],
                    skip_if=[
                        *("gcloud", "storage", "buckets", "notifications", "list", bucket),
                        f"--filter=topic:{self.topic}",
                        "--format=value(id)",
                    ],
                ),
                Step(
                    ["gcloud", "pubsub", "subscriptions", "create", self.subscription, p]
                    + [f"--topic={self.topic}", "--ack-deadline=120"]
                    + [f"--dead-letter-topic={dead_letter}", "--max-delivery-attempts=5"]
                    + ["--min-retry-delay=10s", "--max-retry-delay=600s"],
                    skip_if=["gcloud", "pubsub", "subscriptions", "describe", self.subscription, p],
                ),
                Step(
                    ["gcloud", "pubsub", "subscriptions", "add-iam-policy-binding"]
                    + [self.subscription, p, f"--member={sa}", "--role=roles/pubsub.subscriber"]
                ),
            ]
        else:
            env = {"ASYNCIMG_CALLBACK_URL": self.callback_url, **processor_env()}
            region = f"--region={self.region}"
            steps += [
                Step(
                    ["gcloud", "projects", "add-iam-policy-binding", self.project]
                    + [f"--member={sa}", "--role=roles/eventarc.eventReceiver", "--condition=None"]
                ),
                Step(
                    ["gcloud", "functions", "deploy", self.function_name, "--gen2", p, region]
                    + ["--runtime=python312", f"--source={self.source_dir}"]
                    + ["--entry-point=on_object_finalized"]
                    + ["--trigger-event-filters=type=google.cloud.storage.object.v1.finalized"]
                    + [f"--trigger-event-filters=bucket={self.bucket}"]
                    + [f"--trigger-location={self.region}", "--retry"]
                    + [f"--service-account={self.service_account}"]
                    + [f"--trigger-service-account={self.service_account}"]
                    + [f"--memory={self.memory}", "--cpu=1", f"--timeout={self.timeout}s"]
                    + ["--no-allow-unauthenticated"]
                    # "^;^": the values hold commas (gcloud's alternate delimiter syntax).
                    + ["--set-env-vars=^;^" + ";".join(f"{k}={v}" for k, v in env.items())]
                    + [f"--set-secrets=ASYNCIMG_CALLBACK_SECRET={self.secret_name}:latest"]
                ),
                Step(
                    ["gcloud", "functions", "add-invoker-policy-binding", self.function_name]
                    + [p, region, f"--member={sa}"]
                ),
                Step(
                    ["gcloud", "functions", "describe", self.function_name, "--gen2", p, region]
                    + ["--format=value(eventTrigger.trigger)"],
                    capture="TRIGGER",
                ),
                Step(
                    [
                        *("gcloud", "eventarc", "triggers", "describe", Ref("TRIGGER"), p),
                        f"--location={self.region}",
                        "--format=value(transport.pubsub.subscription)",
                    ],
                    capture="SUBSCRIPTION",
                ),
                Step(
                    [
                        *("gcloud", "pubsub", "subscriptions", "update", Ref("SUBSCRIPTION"), p),
                        *(f"--dead-letter-topic={dead_letter}", "--max-delivery-attempts=5"),
                    ]
                ),
            ]
            subscription = Ref("SUBSCRIPTION")
        # Pub/Sub moves undeliverable messages as its own service agent.
        steps += [
            Step(
                [
                    *("gcloud", "pubsub", "topics", "add-iam-policy-binding"),
                    *(self.dead_letter_topic, p, pubsub_agent, "--role=roles/pubsub.publisher"),
                ]
            ),
            Step(
                [
                    *("gcloud", "pubsub", "subscriptions", "add-iam-policy-binding"),
                    *(subscription, p, pubsub_agent, "--role=roles/pubsub.subscriber"),
                ]
            ),
        ]
        return steps


@dataclass(frozen=True)
class AzurePlan:
    resource_group: str
    location: str
    container: str
    callback_url: str
    callback_secret: str = field(repr=False)
    origins: list[str]
    processor: str = "function"
    name_prefix: str = "asyncimg"
    deployment_name: str = "asyncimg"
    build_dir: Path = Path(".asyncimg-deploy/azure")

    @property
    def source_dir(self) -> Path:
        return self.build_dir / "source"

    @property
    def secret_file(self) -> Path:
        return self.build_dir / "secret.parameters.json"

    def stage(self) -> None:
        """The Function App (package, ``function_app.py``, ``host.json``, ``requirements.txt``)
        zipped, the template, and the secret's parameters file (readable by this user only)."""
        self.build_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(BICEP, self.build_dir / "main.bicep")
        if self.processor == "function":
            _stage_package(self.source_dir)
            for name in ("function_app.py", "host.json", "requirements.txt"):
                shutil.copy2(AZURE_DIR / name, self.source_dir / name)
            shutil.make_archive(str(self.build_dir / "function"), "zip", self.source_dir)
        parameters = {
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
            "deploymentParameters.json#",
            "contentVersion": "1.0.0.0",
            "parameters": {"callbackSecret": {"value": self.callback_secret}},
        }
        fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(parameters, out)

    def parameters(self, *, subscribe: bool) -> dict[str, str]:
        env = processor_env()
        return {
            "namePrefix": self.name_prefix,
            "containerName": self.container,
            "temporaryPrefix": env["ASYNCIMG_TEMPORARY_PREFIX"],
            "processedPrefix": env["ASYNCIMG_PROCESSED_PREFIX"],
            "allowedOrigins": json.dumps(self.origins),
            "callbackUrl": self.callback_url,
            "variantWidths": env["ASYNCIMG_VARIANT_WIDTHS"],
            "variantFormats": env["ASYNCIMG_VARIANT_FORMATS"],
            "maxPixels": env["ASYNCIMG_MAX_PIXELS"],
            "maxBytes": env["ASYNCIMG_MAX_BYTES"],
            "allowedTypes": env["ASYNCIMG_ALLOWED_TYPES"],
            "analyzers": env["ASYNCIMG_ANALYZERS"],
            "processor": self.processor,
            "deployEventSubscription": "true" if subscribe else "false",
        }

    def _deployment(self, *, subscribe: bool) -> Step:
        return Step(
            ["az", "deployment", "group", "create", "--resource-group", self.resource_group]
            + ["--name", self.deployment_name]
            + ["--template-file", str(self.build_dir / "main.bicep")]
            + ["--parameters", f"@{self.secret_file}"]
            + ["--parameters"]
            + [f"{k}={v}" for k, v in self.parameters(subscribe=subscribe).items()]
            + ["--output", "none"]
        )

    def steps(self) -> list[Step]:
        steps = [
            Step(
                ["az", "group", "create", "--name", self.resource_group]
                + ["--location", self.location, "--output", "none"]
            )
        ]
        if self.processor == "worker":
            return [*steps, self._deployment(subscribe=True)]
        return [
            *steps,
            # The Event Grid subscription needs the function: infrastructure, code, subscription.
            self._deployment(subscribe=False),
            Step(
                ["az", "deployment", "group", "show", "--resource-group", self.resource_group]
                + ["--name", self.deployment_name]
                + ["--query", "properties.outputs.functionAppName.value", "--output", "tsv"],
                capture="FUNCTION_APP",
            ),
            Step(
                [
                    *("az", "functionapp", "deployment", "source", "config-zip"),
                    *("--resource-group", self.resource_group, "--name", Ref("FUNCTION_APP")),
                    *("--src", str(self.build_dir / "function.zip"), "--build-remote", "true"),
                ]
            ),
            self._deployment(subscribe=True),
        ]


class Command(BaseCommand):
    help = (
        "Deploy the image processor with parameters taken from the ASYNC_IMAGE_UPLOAD_* "
        "settings: on AWS the SAM stack (bucket, SQS, Lambda, alarms; needs the SAM CLI), on "
        "GCP with gcloud, on Azure a Bicep template with az."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--cloud", choices=["aws", "gcp", "azure"], default="aws", help="Where (aws)."
        )
        parser.add_argument(
            "--processor",
            choices=["function", "worker"],
            default="function",
            help="gcp/azure: a cloud function, or the queue `asyncimg_worker` reads (function).",
        )
        parser.add_argument("--project", help="gcp: the Google Cloud project (asked if missing).")
        parser.add_argument(
            "--resource-group", help="azure: the resource group (asked if missing)."
        )
        parser.add_argument("--location", help="azure: the region (westeurope).")
        parser.add_argument(
            "--stack-name", help="CloudFormation stack to create or update (asked if missing)."
        )
        parser.add_argument(
            "--region",
            help="aws: defaults to ASYNC_IMAGE_UPLOAD_REGION; gcp: the bucket's and function's "
            "region (us-central1).",
        )
        parser.add_argument(
            "--callback-secret-arn", help="Secrets Manager ARN of the callback signing secret."
        )
        parser.add_argument(
            "--callback-secret-parameter", help="Or an SSM SecureString name, starting with /."
        )
        parser.add_argument(
            "--allowed-origins", help="Comma-separated browser origins allowed to upload (CORS)."
        )
        parser.add_argument(
            "--alarm-email", default="", help="Address subscribed to the stack's alarms (optional)."
        )
        parser.add_argument(
            "--memory-size",
            type=int,
            help="Lambda memory in MB (template default: 1769, one vCPU).",
        )
        parser.add_argument(
            "--timeout", type=int, help="Lambda timeout in seconds (template default: 60)."
        )
        parser.add_argument("--subnet-ids", default="", help="Comma-separated; needs NAT.")
        parser.add_argument(
            "--security-group-ids", default="", help="Comma-separated; with --subnet-ids."
        )
        parser.add_argument(
            "--build-dir",
            default=".aws-sam/build",
            help="Where `sam build` writes (.aws-sam/build).",
        )
        parser.add_argument(
            "--use-container",
            action="store_true",
            help="Build in a Lambda-like container (`sam build --use-container`; needs Docker).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Print the commands only.")
        parser.add_argument(
            "--no-input", action="store_false", dest="interactive", help="Never prompt."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options.get("cloud", "aws") != "aws":
            self.deploy_other(options)
            return
        plan = self.plan(options)
        commands = plan.commands()
        if options["dry_run"]:
            self.stdout.write(f"# stages the function's source in {plan.source_dir}, then:")
            for command in commands:
                self.stdout.write(shlex.join(command))
            return
        if shutil.which("sam") is None:
            raise CommandError(
                f"The AWS SAM CLI ('sam') is not on PATH. Install it ({SAM_INSTALL_URL}) or run "
                "with --dry-run to print the commands."
            )
        plan.stage()
        for command in commands:
            self.stdout.write(f"$ {shlex.join(command)}")
            try:
                subprocess.run(command, check=True)
            except subprocess.CalledProcessError as exc:
                raise CommandError(f"{command[0]} {command[1]} failed ({exc.returncode}).") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Deployed {plan.stack_name}. The callback secret must also be listed in "
                "ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS."
            )
        )

    def deploy_other(self, options: dict[str, Any]) -> None:
        cloud = options["cloud"]
        plan = self.gcp_plan(options) if cloud == "gcp" else self.azure_plan(options)
        steps = plan.steps()
        if options["dry_run"]:
            self.stdout.write(f"# stages the deployment's files in {plan.build_dir}, then:")
            for step in steps:
                self.stdout.write(step.script())
            return
        tool = "gcloud" if cloud == "gcp" else "az"
        if shutil.which(tool) is None:
            raise CommandError(
                f"'{tool}' is not on PATH. Install the "
                + ("Google Cloud CLI" if cloud == "gcp" else "Azure CLI")
                + " or run with --dry-run to print the commands."
            )
        plan.stage()
        try:
            run_steps(steps, self.stdout)
        finally:
            if isinstance(plan, AzurePlan):
                plan.secret_file.unlink(missing_ok=True)
        self.stdout.write(self.style.SUCCESS(f"Deployed the processor on {cloud}."))

    def _common(self, options: dict[str, Any], interactive: bool) -> tuple[str, str, list[str]]:
        if not app_settings.BUCKET:
            raise CommandError("Set ASYNC_IMAGE_UPLOAD_BUCKET: the deployment creates it.")
        if not app_settings.CALLBACK_SECRETS:
            raise CommandError(
                "Set ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS: the first one is stored as the "
                "processor's signing secret."
            )
        callback_url = app_settings.CALLBACK_URL or self.ask(
            "Callback URL (https://<your host>/async_image/callback/)", interactive
        )
        origins = options.get("allowed_origins") or self.ask(
            "Origins allowed to upload, comma-separated (https://example.com)", interactive
        )
        return callback_url, app_settings.CALLBACK_SECRETS[0], _origins(origins)

    def gcp_plan(self, options: dict[str, Any]) -> GcpPlan:
        interactive = options.get("interactive", True)
        callback_url, secret, origins = self._common(options, interactive)
        project = options.get("project") or self.ask("Google Cloud project id", interactive)
        assert app_settings.BUCKET is not None
        return GcpPlan(
            project=project,
            region=options.get("region") or "us-central1",
            bucket=app_settings.BUCKET,
            callback_url=callback_url,
            callback_secret=secret,
            origins=origins,
            processor=options.get("processor") or "function",
            build_dir=_build_dir(options, "gcp"),
        )

    def azure_plan(self, options: dict[str, Any]) -> AzurePlan:
        interactive = options.get("interactive", True)
        callback_url, secret, origins = self._common(options, interactive)
        group = options.get("resource_group") or self.ask("Azure resource group", interactive)
        assert app_settings.BUCKET is not None
        return AzurePlan(
            resource_group=group,
            location=options.get("location") or "westeurope",
            container=app_settings.BUCKET,
            callback_url=callback_url,
            callback_secret=secret,
            origins=origins,
            processor=options.get("processor") or "function",
            build_dir=_build_dir(options, "azure"),
        )

    def plan(self, options: dict[str, Any]) -> DeployPlan:
        interactive = options.get("interactive", True)
        if not app_settings.BUCKET:
            raise CommandError("Set ASYNC_IMAGE_UPLOAD_BUCKET: the stack creates that bucket.")
        callback_url = app_settings.CALLBACK_URL or self.ask(
            "Callback URL (https://<your host>/async_image/callback/)", interactive
        )
        stack_name = options.get("stack_name") or self.ask("Stack name", interactive)
        secret_arn = options.get("callback_secret_arn") or ""
        secret_parameter = options.get("callback_secret_parameter") or ""
        if not secret_arn and not secret_parameter:
            where = self.ask(
                "Callback secret: Secrets Manager ARN, or SSM parameter name (/...)", interactive
            )
            if where.startswith("arn:"):
                secret_arn = where
            elif where.startswith("/"):
                secret_parameter = where
            else:
                raise CommandError("Give a Secrets Manager ARN (arn:...) or an SSM name (/...).")
        origins = options.get("allowed_origins") or self.ask(
            "Origins allowed to upload, comma-separated (https://example.com)", interactive
        )
        parameters = {
            "BucketName": app_settings.BUCKET,
            "TemporaryPrefix": app_settings.TEMPORARY_IMAGE_PATH,
            "ProcessedPrefix": app_settings.PROCESSED_IMAGE_PATH,
            "CallbackUrl": callback_url,
            "CallbackSecretArn": secret_arn,
            "CallbackSecretParameter": secret_parameter,
            "AllowedOrigins": ",".join(_origins(origins)),
            "VariantWidths": ",".join(str(w) for w in app_settings.VARIANT_WIDTHS),
            "VariantFormats": ",".join(app_settings.VARIANT_FORMATS),
            "MaxPixels": str(app_settings.MAX_PIXELS),
            "MaxBytes": str(app_settings.PRESIGNED_URL_CONTENT_LENGTH),
            "AllowedTypes": ",".join(app_settings.ALLOWED_CONTENT_TYPES),
            "Analyzers": ",".join(app_settings.ANALYZERS),
            "AlarmEmail": options.get("alarm_email") or "",
            "SubnetIds": options.get("subnet_ids") or "",
            "SecurityGroupIds": options.get("security_group_ids") or "",
        }
        for name, key in (("memory_size", "MemorySize"), ("timeout", "Timeout")):
            if options.get(name):
                parameters[key] = str(options[name])
        return DeployPlan(
            stack_name=stack_name,
            region=options.get("region") or app_settings.REGION,
            parameters=parameters,
            build_dir=Path(options.get("build_dir") or ".aws-sam/build"),
            use_container=bool(options.get("use_container")),
        )

    def ask(self, question: str, interactive: bool) -> str:
        if not interactive:
            raise CommandError(f"Missing: {question} (give it as an option; --no-input is set).")
        answer = input(f"{question}: ").strip()
        if not answer:
            raise CommandError(f"{question} is required.")
        return answer


def _origins(value: str) -> list[str]:
    return [o.strip() for o in value.split(",") if o.strip()]


def _build_dir(options: dict[str, Any], cloud: str) -> Path:
    given = options.get("build_dir")
    # --build-dir's default belongs to the SAM path.
    if not given or given == ".aws-sam/build":
        return Path(".asyncimg-deploy") / cloud
    return Path(given)
