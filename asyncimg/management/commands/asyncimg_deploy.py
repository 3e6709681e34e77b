"""``manage.py asyncimg_deploy``: deploy the processor's SAM stack with values from settings.

Builds the ``sam build`` and ``sam deploy`` command lines (``--dry-run`` prints them), filling the
stack parameters from the ``ASYNC_IMAGE_UPLOAD_*`` settings and asking for what settings cannot
say (stack name, callback secret location, CORS origins) unless given as options.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
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


class Command(BaseCommand):
    help = (
        "Build and deploy the image processor's SAM stack (bucket, SQS, Lambda, alarms) with "
        "parameters taken from the ASYNC_IMAGE_UPLOAD_* settings. Needs the AWS SAM CLI."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--stack-name", help="CloudFormation stack to create or update (asked if missing)."
        )
        parser.add_argument("--region", help="Defaults to ASYNC_IMAGE_UPLOAD_REGION.")
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
            "AllowedOrigins": ",".join(o.strip() for o in origins.split(",") if o.strip()),
            "VariantWidths": ",".join(str(w) for w in app_settings.VARIANT_WIDTHS),
            "VariantFormats": ",".join(app_settings.VARIANT_FORMATS),
            "MaxPixels": str(app_settings.MAX_PIXELS),
            "MaxBytes": str(app_settings.PRESIGNED_URL_CONTENT_LENGTH),
            "AllowedTypes": ",".join(app_settings.ALLOWED_CONTENT_TYPES),
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
