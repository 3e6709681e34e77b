"""``manage.py asyncimg_deploy``: the sam command lines it builds (nothing is deployed)."""

from __future__ import annotations

import io
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from asyncimg.management.commands.asyncimg_deploy import TEMPLATE

OPTIONS = [
    "--stack-name",
    "asyncimg-prod",
    "--callback-secret-arn",
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cb-AbCdEf",
    "--allowed-origins",
    "https://example.com, https://www.example.com",
]


@pytest.fixture
def deploy_settings(settings: Any) -> Any:
    settings.ASYNC_IMAGE_UPLOAD_BUCKET = "my-uploads"
    settings.ASYNC_IMAGE_UPLOAD_REGION = "eu-west-1"
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_URL = "https://example.com/async_image/callback/"
    settings.ASYNC_IMAGE_UPLOAD_VARIANT_WIDTHS = (400, 1200)
    settings.ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_CONTENT_LENGTH = 5_000_000
    return settings


def dry_run(*args: str) -> list[list[str]]:
    out = io.StringIO()
    call_command("asyncimg_deploy", "--dry-run", "--no-input", *args, stdout=out)
    return [shlex.split(line) for line in out.getvalue().splitlines() if not line.startswith("#")]


def overrides(deploy: list[str]) -> dict[str, str]:
    value = deploy[deploy.index("--parameter-overrides") + 1]
    return dict(item.split("=", 1) for item in shlex.split(value))


def test_dry_run_prints_build_and_deploy(deploy_settings: Any) -> None:
    build, deploy = dry_run(*OPTIONS)

    assert build == [
        *("sam", "build", "--template-file", ".aws-sam/source/template.yaml"),
        *("--build-dir", ".aws-sam/build"),
    ]
    assert deploy[:2] == ["sam", "deploy"]
    assert deploy[deploy.index("--template-file") + 1] == ".aws-sam/build/template.yaml"
    assert deploy[deploy.index("--stack-name") + 1] == "asyncimg-prod"
    assert deploy[deploy.index("--region") + 1] == "eu-west-1"
    assert deploy[deploy.index("--capabilities") + 1] == "CAPABILITY_IAM"
    assert "--resolve-s3" in deploy
    assert overrides(deploy) == {
        "BucketName": "my-uploads",
        "TemporaryPrefix": "temp/",
        "ProcessedPrefix": "processed/",
        "CallbackUrl": "https://example.com/async_image/callback/",
        "CallbackSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cb-AbCdEf",
        "CallbackSecretParameter": "",
        "AllowedOrigins": "https://example.com,https://www.example.com",
        "VariantWidths": "400,1200",
        "VariantFormats": "webp,jpeg",
        "MaxPixels": "50000000",
        "MaxBytes": "5000000",
        "AllowedTypes": (
            "image/jpeg,image/png,image/webp,image/gif,image/heic,image/heif,image/avif"
        ),
        "Analyzers": "placeholder,dominantColor,perceptualHash",
        "AlarmEmail": "",
        "SubnetIds": "",
        "SecurityGroupIds": "",
    }


def test_every_override_is_a_template_parameter(deploy_settings: Any) -> None:
    _build, deploy = dry_run(*OPTIONS, "--memory-size", "3538", "--timeout", "120")
    # A SafeLoader subclass that only adds a constructor for the CloudFormation tags.
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506
    assert set(overrides(deploy)) <= set(template["Parameters"])
    assert overrides(deploy)["MemorySize"] == "3538"


def test_the_lifecycle_rules_cover_what_a_rule_can_tell() -> None:
    """Raw uploads expire; deleted processed images leave no old versions behind; processed
    images expire only when the deployment asks (ProcessedExpirationDays, default 0: kept).
    Orphans (row gone) need the database: tests/test_sweeps.py has those."""
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506
    bucket = template["Resources"]["ImageBucket"]["Properties"]
    rules = bucket["LifecycleConfiguration"]["Rules"]
    plain = {r["Id"]: r for r in rules if isinstance(r, dict)}
    assert plain["expire-abandoned-uploads"]["Prefix"] == "TemporaryPrefix"
    deleted = plain["expire-deleted-processed-images"]
    assert deleted["Prefix"] == "ProcessedPrefix"
    assert deleted["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    [(condition, optional, absent)] = [r for r in rules if isinstance(r, list)]
    assert (condition, absent) == ("HasProcessedExpiration", "AWS::NoValue")
    assert optional["Prefix"] == "ProcessedPrefix"
    assert optional["ExpirationInDays"] == "ProcessedExpirationDays"
    assert template["Parameters"]["ProcessedExpirationDays"]["Default"] == 0


def test_prompts_for_what_settings_do_not_say(
    deploy_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["asyncimg-staging", "/asyncimg/callback-secret", "https://staging.example.com"])
    monkeypatch.setattr("builtins.input", lambda _prompt: next(answers))
    out = io.StringIO()
    call_command("asyncimg_deploy", "--dry-run", stdout=out)
    deploy = shlex.split(out.getvalue().splitlines()[2])
    assert deploy[deploy.index("--stack-name") + 1] == "asyncimg-staging"
    assert overrides(deploy)["CallbackSecretParameter"] == "/asyncimg/callback-secret"
    assert overrides(deploy)["CallbackSecretArn"] == ""
    assert overrides(deploy)["AllowedOrigins"] == "https://staging.example.com"


def test_no_input_names_the_missing_value(deploy_settings: Any) -> None:
    with pytest.raises(CommandError, match="Stack name"):
        dry_run("--allowed-origins", "https://example.com")


def test_missing_bucket_is_an_error(deploy_settings: Any) -> None:
    deploy_settings.ASYNC_IMAGE_UPLOAD_BUCKET = None
    with pytest.raises(CommandError, match="ASYNC_IMAGE_UPLOAD_BUCKET"):
        dry_run(*OPTIONS)


def test_without_sam_on_path_it_fails_clearly(
    deploy_settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CommandError, match="SAM CLI"):
        call_command("asyncimg_deploy", "--no-input", *OPTIONS)


def test_runs_sam_when_present(
    deploy_settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A stand-in ``sam`` script records its arguments: nothing reaches AWS."""
    log = tmp_path / "calls"
    sam = tmp_path / "sam"
    sam.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {log}\n')
    sam.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    build_dir = tmp_path / "aws-sam" / "build"
    call_command(
        "asyncimg_deploy",
        "--no-input",
        *OPTIONS,
        "--build-dir",
        str(build_dir),
        stdout=io.StringIO(),
    )
    calls = log.read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["build", "deploy"]
    # The template's CodeUri (.) holds the package, its requirements and nothing of sam/.
    source = tmp_path / "aws-sam" / "source"
    assert f"--template-file {source / 'template.yaml'}" in calls[0]
    assert (source / "asyncimg_processor" / "handler.py").is_file()
    assert (source / "requirements.txt").read_text().count("Pillow") == 1
    assert not (source / "asyncimg_processor" / "sam").exists()


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub...) as plain values."""


def _any_tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _any_tag)
