"""``manage.py asyncimg_deploy --cloud gcp|azure``: the gcloud and az command lines it builds.
Nothing is deployed: dry runs print the commands, and stand-in ``gcloud``/``az`` scripts record
the arguments (and standard input) they are run with."""

from __future__ import annotations

import io
import json
import re
import shlex
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from asyncimg.management.commands.asyncimg_deploy import BICEP

SECRET = "the-callback-secret-value"


@pytest.fixture
def deploy_settings(settings: Any) -> Any:
    settings.ASYNC_IMAGE_UPLOAD_BUCKET = "my-uploads"
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_URL = "https://example.com/async_image/callback/"
    settings.ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS = [SECRET, "old"]
    settings.ASYNC_IMAGE_UPLOAD_VARIANT_WIDTHS = (400, 1200)
    return settings


def dry_run(*args: str) -> str:
    out = io.StringIO()
    call_command("asyncimg_deploy", "--dry-run", "--no-input", *args, stdout=out)
    return out.getvalue()


def commands(script: str) -> list[list[str]]:
    """The script's command lines, without the existence checks and captures around them."""
    lines = []
    for line in script.splitlines():
        if line.startswith("#"):
            continue
        line = line.split("  # stdin:")[0]
        line = line.split(" || ", 1)[-1]
        line = re.sub(r"^[A-Z_]+=\$\((.*)\)$", r"\1", line)
        lines.append(shlex.split(line))
    return lines


def find(lines: list[list[str]], *prefix: str) -> list[str]:
    [line] = [line for line in lines if line[: len(prefix)] == list(prefix)]
    return line


GCP = ["--cloud", "gcp", "--project", "my-proj", "--allowed-origins", "https://example.com"]


def test_gcp_function_dry_run(deploy_settings: Any) -> None:
    script = dry_run(*GCP)
    assert SECRET not in script
    lines = commands(script)
    deploy = find(lines, "gcloud", "functions", "deploy")
    assert deploy[3:5] == ["asyncimg-processor", "--gen2"]
    for flag in [
        "--entry-point=on_object_finalized",
        "--trigger-event-filters=type=google.cloud.storage.object.v1.finalized",
        "--trigger-event-filters=bucket=my-uploads",
        "--retry",
        "--service-account=asyncimg-processor@my-proj.iam.gserviceaccount.com",
        "--set-secrets=ASYNCIMG_CALLBACK_SECRET=asyncimg-callback-secret:latest",
        "--source=.asyncimg-deploy/gcp/source",
        "--region=us-central1",
    ]:
        assert flag in deploy
    [env] = [a for a in deploy if a.startswith("--set-env-vars=")]
    variables = dict(
        item.split("=", 1) for item in env.removeprefix("--set-env-vars=^;^").split(";")
    )
    assert variables["ASYNCIMG_VARIANT_WIDTHS"] == "400,1200"
    assert variables["ASYNCIMG_CALLBACK_URL"] == "https://example.com/async_image/callback/"
    assert variables["ASYNCIMG_BUCKET"] == "my-uploads"
    # Roles on the bucket and the one secret, never on the project's storage.
    binding = find(lines, "gcloud", "storage", "buckets", "add-iam-policy-binding")
    assert binding[4:] == [
        "gs://my-uploads",
        "--member=serviceAccount:asyncimg-processor@my-proj.iam.gserviceaccount.com",
        "--role=roles/storage.objectUser",
    ]
    find(lines, "gcloud", "secrets", "create")
    assert "--data-file=-" in find(lines, "gcloud", "secrets", "create")
    update = find(lines, "gcloud", "storage", "buckets", "update")
    assert "--lifecycle-file=.asyncimg-deploy/gcp/lifecycle.json" in update
    assert "--cors-file=.asyncimg-deploy/gcp/cors.json" in update
    # The Eventarc trigger's subscription gets the dead-letter topic, looked up at run time.
    assert 'gcloud pubsub subscriptions update "${SUBSCRIPTION}"' in script
    assert "--dead-letter-topic=projects/my-proj/topics/asyncimg-uploads-dead-letter" in script
    assert not [
        line for line in lines if line[:4] == ["gcloud", "storage", "buckets", "notifications"]
    ]


def test_gcp_worker_dry_run(deploy_settings: Any) -> None:
    lines = commands(dry_run(*GCP, "--processor", "worker", "--region", "europe-west1"))
    assert not [line for line in lines if line[:3] == ["gcloud", "functions", "deploy"]]
    notification = find(lines, "gcloud", "storage", "buckets", "notifications", "create")
    assert notification[5:] == [
        "gs://my-uploads",
        "--topic=projects/my-proj/topics/asyncimg-uploads",
        "--event-types=OBJECT_FINALIZE",
        "--payload-format=json",
        "--object-prefix=temp/",
    ]
    subscription = find(lines, "gcloud", "pubsub", "subscriptions", "create")
    assert (
        "--dead-letter-topic=projects/my-proj/topics/asyncimg-uploads-dead-letter" in subscription
    )
    assert "--max-delivery-attempts=5" in subscription
    assert "--location=europe-west1" in find(lines, "gcloud", "storage", "buckets", "create")


AZURE = ["--cloud", "azure", "--resource-group", "rg", "--allowed-origins", "https://example.com"]


def bicep_parameters() -> set[str]:
    return set(re.findall(r"^param (\w+) ", BICEP.read_text(), flags=re.MULTILINE))


def deployment_parameters(line: list[str]) -> dict[str, str]:
    start = len(line) - line[::-1].index("--parameters")
    end = line.index("--output", start)
    return dict(item.split("=", 1) for item in line[start:end])


def test_azure_function_dry_run(deploy_settings: Any) -> None:
    script = dry_run(*AZURE)
    assert SECRET not in script
    lines = commands(script)
    deployments = [line for line in lines if line[:4] == ["az", "deployment", "group", "create"]]
    assert len(deployments) == 2  # infrastructure, then (after the code) the subscription
    first, second = (deployment_parameters(line) for line in deployments)
    assert set(first) <= bicep_parameters()
    assert "callbackSecret" in bicep_parameters()  # from the private parameters file
    assert (first["deployEventSubscription"], second["deployEventSubscription"]) == (
        "false",
        "true",
    )
    assert json.loads(first["allowedOrigins"]) == ["https://example.com"]
    assert first["containerName"] == "my-uploads"
    assert first["variantWidths"] == "400,1200"
    zip_deploy = find(lines, "az", "functionapp", "deployment", "source", "config-zip")
    assert "--build-remote" in zip_deploy
    assert 'config-zip --resource-group rg --name "${FUNCTION_APP}"' in script


def test_azure_worker_dry_run(deploy_settings: Any) -> None:
    lines = commands(dry_run(*AZURE, "--processor", "worker"))
    [deployment] = [line for line in lines if line[:4] == ["az", "deployment", "group", "create"]]
    assert deployment_parameters(deployment)["processor"] == "worker"
    assert not [line for line in lines if line[:2] == ["az", "functionapp"]]


def test_the_template_wires_what_the_processor_reads() -> None:
    template = BICEP.read_text()
    # Every variable HandlerConfig.from_env reads that the template can set, and the store's.
    for name in [
        "ASYNCIMG_CALLBACK_URL",
        "ASYNCIMG_CALLBACK_SECRET",
        "ASYNCIMG_AZURE_ACCOUNT_URL",
        "ASYNCIMG_BUCKET",
        "ASYNCIMG_VARIANT_WIDTHS",
    ]:
        assert f"name: '{name}'" in template
    assert "@Microsoft.KeyVault(SecretUri=" in template
    assert "Microsoft.Storage.BlobCreated" in template
    assert "deadLetterDestination" in template
    assert "/functions/${functionName}" in template
    assert "var functionName = 'asyncimg_blob_created'" in template
    function_app = (BICEP.parent / "function_app.py").read_text()
    assert "def asyncimg_blob_created(" in function_app


def test_missing_project_or_group_is_named(deploy_settings: Any) -> None:
    with pytest.raises(CommandError, match="Google Cloud project"):
        dry_run("--cloud", "gcp", "--allowed-origins", "https://example.com")
    with pytest.raises(CommandError, match="resource group"):
        dry_run("--cloud", "azure", "--allowed-origins", "https://example.com")


def stand_in(tmp_path: Path, name: str, answers: dict[str, str]) -> Path:
    """A ``name`` script that logs each call's arguments and standard input, answers the
    look-ups of ``answers`` (argument substring → output) and fails ``describe`` calls (so
    nothing "exists")."""
    log = tmp_path / f"{name}.log"
    cases = "\n".join(
        f"  *{shlex.quote(key)}*) echo {shlex.quote(value)} ;;" for key, value in answers.items()
    )
    script = tmp_path / "bin" / name
    script.parent.mkdir(exist_ok=True)
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> {log}\n'
        f'case "$*" in *--data-file=-*) cat > {tmp_path}/stdin ;; esac\n'
        f'case "$*" in\n{cases}\n  *" describe "*) exit 1 ;;\nesac\n'
    )
    script.chmod(0o755)
    return log


def test_gcp_runs_gcloud_with_the_secret_on_stdin(
    deploy_settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = stand_in(
        tmp_path,
        "gcloud",
        {
            "service-agent": "service-42@gs-project-accounts.iam.gserviceaccount.com",
            "value(projectNumber)": "42",
            "value(eventTrigger.trigger)": "projects/my-proj/locations/r/triggers/t-1",
            "transport.pubsub.subscription": "projects/my-proj/subscriptions/eventarc-sub",
        },
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    build = tmp_path / "gcp"
    call_command(
        "asyncimg_deploy", "--no-input", *GCP, "--build-dir", str(build), stdout=io.StringIO()
    )
    calls = log.read_text().splitlines()
    assert (tmp_path / "stdin").read_text() == SECRET
    assert any(
        "--member=serviceAccount:service-42@gs-project-accounts.iam.gserviceaccount.com" in c
        for c in calls
    )
    assert "pubsub subscriptions update projects/my-proj/subscriptions/eventarc-sub" in "\n".join(
        calls
    )
    assert any(
        "--member=serviceAccount:service-42@gcp-sa-pubsub.iam.gserviceaccount.com" in c
        for c in calls
    )
    # The function's source: the package, its entry point and requirements; nothing of the
    # other clouds' deployment files.
    source = build / "source"
    assert (source / "main.py").read_text().count("@functions_framework.cloud_event") == 1
    assert (source / "asyncimg_processor" / "cloud_function.py").is_file()
    assert not (source / "asyncimg_processor" / "sam").exists()
    assert "google-cloud-storage" in (source / "requirements.txt").read_text()
    cors = json.loads((build / "cors.json").read_text())
    assert cors[0]["origin"] == ["https://example.com"]
    assert "POST" in cors[0]["method"]
    lifecycle = json.loads((build / "lifecycle.json").read_text())
    assert lifecycle["rule"][0]["condition"]["matchesPrefix"] == ["temp/"]


def test_azure_runs_az_and_removes_the_secret_file(
    deploy_settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = stand_in(tmp_path, "az", {"functionAppName": "asyncimg-fn-abc"})
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    build = tmp_path / "azure"
    call_command(
        "asyncimg_deploy", "--no-input", *AZURE, "--build-dir", str(build), stdout=io.StringIO()
    )
    calls = log.read_text().splitlines()
    assert [c.split()[:2] for c in calls] == [
        ["group", "create"],
        ["deployment", "group"],
        ["deployment", "group"],
        ["functionapp", "deployment"],
        ["deployment", "group"],
    ]
    assert "--name asyncimg-fn-abc" in calls[3]
    assert not (build / "secret.parameters.json").exists()
    assert SECRET not in log.read_text()
    with zipfile.ZipFile(build / "function.zip") as archive:
        names = set(archive.namelist())
    assert {"function_app.py", "host.json", "requirements.txt"} <= names
    assert "asyncimg_processor/azure_function.py" in names
    assert (build / "main.bicep").read_text() == BICEP.read_text()
