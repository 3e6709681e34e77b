"""System checks report exact ids (like django-cors-headers' tests)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import CheckMessage
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from asyncimg.checks import check_settings
from asyncimg.conf import app_settings

LIMITS = [
    "PRESIGNED_URL_EXPIRATION",
    "PRESIGNED_URL_CONTENT_LENGTH",
    "MAX_FILES_PER_REQUEST",
    "MAX_PIXELS",
    "CALLBACK_REPLAY_WINDOW",
    "CALLBACK_MAX_BODY_SIZE",
    "MAX_PENDING_PER_OWNER",
    "DOWNLOAD_URL_EXPIRATION",
    "GRAPHQL_MAX_DEPTH",
    "GRAPHQL_MAX_COST",
    "GRAPHQL_MAX_BYTES",
    "GRAPHQL_MAX_LIST_LENGTH",
    "MAX_SUBSCRIPTIONS_PER_CONNECTION",
    "PROCESSING_TIMEOUT",
    "CALLBACK_EVENT_RETENTION",
]
#: read as floats: any positive number of seconds
SECONDS = ["CONNECTION_INIT_TIMEOUT", "KEEPALIVE_INTERVAL"]


def messages(**overrides: Any) -> list[CheckMessage]:
    with override_settings(**overrides):
        return check_settings()


def ids(**overrides: Any) -> list[str]:
    return [message.id for message in messages(**overrides) if message.id]


def test_test_settings_are_clean() -> None:
    assert ids() == []


def test_missing_bucket() -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_BUCKET=None) == ["asyncimg.E001"]
    assert ids(ASYNC_IMAGE_UPLOAD_BUCKET="") == ["asyncimg.E001"]


@pytest.mark.parametrize("name", LIMITS)
@pytest.mark.parametrize("value", [0, -1])
def test_non_positive_limits(name: str, value: int) -> None:
    expected = ["asyncimg.E002"]
    if name == "PRESIGNED_URL_EXPIRATION":
        expected.append("asyncimg.E004")  # the 30 s reuse window is now longer than the expiry
    assert ids(**{f"ASYNC_IMAGE_UPLOAD_{name}": value}) == expected


def test_non_numeric_limit() -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_MAX_PIXELS="lots") == ["asyncimg.E002"]


@pytest.mark.parametrize("name", LIMITS)
@pytest.mark.parametrize("value", ["10 MiB", None, [1000], float("inf")])
def test_unreadable_limits(name: str, value: Any) -> None:
    # Only E002: a reuse window cannot be compared with an expiration that does not parse.
    assert ids(**{f"ASYNC_IMAGE_UPLOAD_{name}": value}) == ["asyncimg.E002"]


@pytest.mark.parametrize("name", SECONDS)
@pytest.mark.parametrize("value", [0, -1, "soon", None, float("inf"), float("nan"), [5]])
def test_bad_durations(name: str, value: Any) -> None:
    assert ids(**{f"ASYNC_IMAGE_UPLOAD_{name}": value}) == ["asyncimg.E002"]


@pytest.mark.parametrize("name", SECONDS)
def test_fractional_durations_are_fine(name: str) -> None:
    assert ids(**{f"ASYNC_IMAGE_UPLOAD_{name}": 0.5}) == []


@pytest.mark.parametrize("name", ["RATE_LIMIT", "ANONYMOUS_RATE_LIMIT"])
@pytest.mark.parametrize("value", [(0, 60), (10, 0), (-1, -1), ("x", 1)])
def test_bad_rate_limit(name: str, value: Any) -> None:
    assert ids(**{f"ASYNC_IMAGE_UPLOAD_{name}": value}) == ["asyncimg.E003"]


# "12" is a string, not a pair: unpacked, it used to pass as (1, 2).
@pytest.mark.parametrize("name", ["RATE_LIMIT", "ANONYMOUS_RATE_LIMIT"])
@pytest.mark.parametrize("value", ["12", "100, 3600", 100, None, (1, 2, 3), (float("inf"), 60)])
def test_rate_limit_of_the_wrong_type(name: str, value: Any) -> None:
    assert ids(**{f"ASYNC_IMAGE_UPLOAD_{name}": value}) == ["asyncimg.E003"]


def test_reuse_window_must_be_shorter_than_expiration() -> None:
    assert ids(
        ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_REUSE_WINDOW=1000,
        ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_EXPIRATION=1000,
    ) == ["asyncimg.E004"]
    assert ids(ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_REUSE_WINDOW=-1) == ["asyncimg.E004"]
    assert ids(ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_REUSE_WINDOW=0) == []


@pytest.mark.parametrize("value", ["abc", "30s", None, [30]])
def test_unreadable_reuse_window(value: Any) -> None:
    [message] = messages(ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_REUSE_WINDOW=value)
    assert message.id == "asyncimg.E004"
    assert "whole number of seconds" in message.msg
    assert "REUSE_WINDOW = 30" in message.hint


def test_unreadable_reuse_window_makes_manage_py_check_fail_not_crash() -> None:
    with (
        override_settings(ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_REUSE_WINDOW="abc"),
        pytest.raises(SystemCheckError, match=r"asyncimg\.E004"),
    ):
        call_command("check")


def test_negative_reuse_window_with_unreadable_expiration() -> None:
    assert ids(
        ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_REUSE_WINDOW=-1,
        ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_EXPIRATION="soon",
    ) == ["asyncimg.E002", "asyncimg.E004"]


def test_svg_in_allowlist() -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_ALLOWED_CONTENT_TYPES=["image/jpeg", "image/svg+xml"]) == [
        "asyncimg.E005"
    ]


def test_unknown_types_in_allowlist() -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_ALLOWED_CONTENT_TYPES=["image/*", "image/tiff"]) == [
        "asyncimg.E006"
    ]


def test_empty_allowlist() -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_ALLOWED_CONTENT_TYPES=[]) == ["asyncimg.E007"]


def test_allowlist_as_one_string_is_one_type() -> None:
    """Like ``CALLBACK_SECRETS = "secret"``: one string is a list of one, not of characters."""
    with override_settings(ASYNC_IMAGE_UPLOAD_ALLOWED_CONTENT_TYPES="image/jpeg"):
        assert app_settings.ALLOWED_CONTENT_TYPES == ("image/jpeg",)
    assert ids(ASYNC_IMAGE_UPLOAD_ALLOWED_CONTENT_TYPES="image/jpeg") == []
    assert ids(ASYNC_IMAGE_UPLOAD_ALLOWED_CONTENT_TYPES="image/svg+xml") == ["asyncimg.E005"]


def test_allowlist_as_a_comma_separated_string() -> None:
    [message] = messages(ASYNC_IMAGE_UPLOAD_ALLOWED_CONTENT_TYPES="image/jpeg,image/png")
    assert message.id == "asyncimg.E006"
    assert "image/jpeg,image/png" in message.msg  # one unknown type, not "/, a, e, ..."
    assert "one type per item" in message.hint


@pytest.mark.parametrize("value", [None, 42, {"image/jpeg": True}])
def test_allowlist_of_the_wrong_type(value: Any) -> None:
    [message] = messages(ASYNC_IMAGE_UPLOAD_ALLOWED_CONTENT_TYPES=value)
    assert message.id == "asyncimg.E010"
    assert "['image/jpeg', 'image/png']" in message.hint


def test_missing_callback_secret() -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS=[]) == ["asyncimg.E008"]
    assert ids(ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS="short") == ["asyncimg.W001"]
    assert ids(ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS=None) == ["asyncimg.E008"]


@pytest.mark.parametrize("value", [12345678901234567890, b"0123456789abcdef0123456789abcdef"])
def test_callback_secrets_of_the_wrong_type(value: Any) -> None:
    [message] = messages(ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS=value)
    assert message.id == "asyncimg.E008"
    assert "must be a list of strings" in message.msg
    assert str(value) not in message.msg + message.hint  # a secret is never shown


def test_bad_variants() -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_VARIANT_WIDTHS=[0, 100]) == ["asyncimg.E009"]
    assert ids(ASYNC_IMAGE_UPLOAD_VARIANT_FORMATS=["bmp"]) == ["asyncimg.E009"]
    assert ids(ASYNC_IMAGE_UPLOAD_VARIANT_FORMATS="bmp") == ["asyncimg.E009"]


@pytest.mark.parametrize("fmt", ["webp", "jpeg", "png", "avif", "gif", "bmp"])
def test_variant_formats_are_the_processor_s(fmt: str) -> None:
    """A format the checks accept is one the processor encodes: png and avif used to pass the
    check, then crash the worker."""
    from asyncimg_processor.core import ProcessOptions

    try:
        ProcessOptions(formats=(fmt,))
    except ValueError:
        processor_ok = False
    else:
        processor_ok = True
    assert (ids(ASYNC_IMAGE_UPLOAD_VARIANT_FORMATS=[fmt]) == []) is processor_ok


# A lone number or string is not a list of widths ("800" would have been 8, 0, 0).
@pytest.mark.parametrize("value", [800, "800", "320,800", None, ["wide"], [float("inf")]])
def test_variant_widths_of_the_wrong_type(value: Any) -> None:
    [message] = messages(ASYNC_IMAGE_UPLOAD_VARIANT_WIDTHS=value)
    assert message.id == "asyncimg.E009"
    assert "(800,)" in message.hint


@pytest.mark.parametrize("value", [5, None])
def test_variant_formats_of_the_wrong_type(value: Any) -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_VARIANT_FORMATS=value) == ["asyncimg.E009"]


def test_variant_formats_as_one_string_is_one_format() -> None:
    with override_settings(ASYNC_IMAGE_UPLOAD_VARIANT_FORMATS="WebP"):
        assert app_settings.VARIANT_FORMATS == ("webp",)
    assert ids(ASYNC_IMAGE_UPLOAD_VARIANT_FORMATS="webp") == []


def test_both_variant_settings_of_the_wrong_type() -> None:
    assert ids(ASYNC_IMAGE_UPLOAD_VARIANT_WIDTHS=800, ASYNC_IMAGE_UPLOAD_VARIANT_FORMATS=5) == [
        "asyncimg.E009",
        "asyncimg.E009",
    ]


def test_several_problems_are_all_reported() -> None:
    assert ids(
        ASYNC_IMAGE_UPLOAD_BUCKET=None,
        ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS=[],
        ASYNC_IMAGE_UPLOAD_ALLOWED_CONTENT_TYPES=["image/svg+xml"],
    ) == ["asyncimg.E001", "asyncimg.E005", "asyncimg.E008"]


def test_several_unreadable_values_are_all_reported() -> None:
    assert ids(
        ASYNC_IMAGE_UPLOAD_MAX_PIXELS="lots",
        ASYNC_IMAGE_UPLOAD_RATE_LIMIT="12",
        ASYNC_IMAGE_UPLOAD_PRESIGNED_URL_REUSE_WINDOW="abc",
        ASYNC_IMAGE_UPLOAD_ALLOWED_CONTENT_TYPES=42,
        ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS=1,
        ASYNC_IMAGE_UPLOAD_VARIANT_WIDTHS=800,
    ) == [
        "asyncimg.E002",
        "asyncimg.E003",
        "asyncimg.E004",
        "asyncimg.E010",
        "asyncimg.E008",
        "asyncimg.E009",
    ]


def messages_of_storage(**overrides: Any) -> list[CheckMessage]:
    from asyncimg.checks import check_storage

    with override_settings(**overrides):
        return check_storage()


def storage_ids(**overrides: Any) -> list[str]:
    return [message.id for message in messages_of_storage(**overrides) if message.id]


GCS = "asyncimg.storage.gcs.GCSBackend"
AZURE = "asyncimg.storage.azure.AzureBlobBackend"
AZURE_ACCOUNT = {
    "ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND": AZURE,
    "ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_NAME": "acct",
    "ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_KEY": "a2V5",
}
CONNECTION_STRING = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5==;"


def test_storage_of_the_test_settings_is_clean() -> None:
    assert storage_ids() == []
    assert storage_ids(ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND=GCS) == []
    assert storage_ids(**AZURE_ACCOUNT) == []


def test_storage_backend_that_cannot_be_imported() -> None:
    assert storage_ids(ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND="asyncimg.storage.nope.Backend") == [
        "asyncimg.E011"
    ]
    assert storage_ids(ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND="asyncimg.conf.AppSettings") == [
        "asyncimg.E011"
    ]
    assert storage_ids(ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND="asyncimg.conf.app_settings") == [
        "asyncimg.E011"
    ]


@pytest.mark.parametrize(("backend", "extra"), [(GCS, "gcs"), (AZURE, "azure")])
def test_storage_backend_without_its_extra(
    backend: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without its client library a bundled backend's hint names the extra that installs it.
    The libraries are installed here, so importing the backend is made to fail as it would."""
    import asyncimg.checks
    from asyncimg.checks import check_storage

    def not_installed(path: str) -> None:
        raise ModuleNotFoundError("No module named 'google.cloud'", name="google.cloud")

    monkeypatch.setattr(asyncimg.checks, "import_string", not_installed)
    with override_settings(ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND=backend):
        [message] = check_storage()
    assert message.id == "asyncimg.E011"
    assert f"django-async-image-upload[{extra}]" in message.hint


def test_storage_backend_path_with_a_typo() -> None:
    [message] = messages_of_storage(ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND=GCS + "s")
    assert message.id == "asyncimg.E011"
    assert "dotted path" in message.hint  # not "install the extra"


@pytest.mark.parametrize(
    "setting",
    [
        "GCS_PROJECT",
        "GCS_SERVICE_ACCOUNT_EMAIL",
        "AZURE_ACCOUNT_NAME",
        "AZURE_ACCOUNT_KEY",
        "AZURE_CONNECTION_STRING",
        "AZURE_USER_DELEGATION",
    ],
)
def test_cloud_setting_the_backend_does_not_read(setting: str) -> None:
    """Azure's key set while the backend is still S3 (forgotten STORAGE_BACKEND) is reported."""
    value = True if setting == "AZURE_USER_DELEGATION" else "x@y"
    assert storage_ids(**{f"ASYNC_IMAGE_UPLOAD_{setting}": value}) == ["asyncimg.W002"]


def test_cloud_settings_of_another_cloud() -> None:
    assert storage_ids(
        ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND=GCS, ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_KEY="k"
    ) == ["asyncimg.W002"]
    assert storage_ids(**AZURE_ACCOUNT, ASYNC_IMAGE_UPLOAD_GCS_PROJECT="p") == ["asyncimg.W002"]


def test_gcs_service_account_email() -> None:
    assert (
        storage_ids(
            ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND=GCS,
            ASYNC_IMAGE_UPLOAD_GCS_SERVICE_ACCOUNT_EMAIL="uploads@p.iam.gserviceaccount.com",
        )
        == []
    )
    assert storage_ids(
        ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND=GCS,
        ASYNC_IMAGE_UPLOAD_GCS_SERVICE_ACCOUNT_EMAIL="uploads",
    ) == ["asyncimg.E014"]


def test_azure_account_missing() -> None:
    assert storage_ids(
        ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND=AZURE, ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_KEY="k"
    ) == ["asyncimg.E012"]
    assert storage_ids(
        ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND=AZURE,
        ASYNC_IMAGE_UPLOAD_AZURE_CONNECTION_STRING="AccountKey=a2V5==;",
    ) == ["asyncimg.E012"]


def test_azure_signing_key_missing_or_contradictory() -> None:
    without_key = {**AZURE_ACCOUNT, "ASYNC_IMAGE_UPLOAD_AZURE_ACCOUNT_KEY": None}
    assert storage_ids(**without_key) == ["asyncimg.E013"]
    assert storage_ids(**without_key, ASYNC_IMAGE_UPLOAD_AZURE_USER_DELEGATION=True) == []
    assert storage_ids(**AZURE_ACCOUNT, ASYNC_IMAGE_UPLOAD_AZURE_USER_DELEGATION=True) == [
        "asyncimg.E013"
    ]
    assert storage_ids(
        **AZURE_ACCOUNT, ASYNC_IMAGE_UPLOAD_AZURE_CONNECTION_STRING=CONNECTION_STRING
    ) == ["asyncimg.E013"]


def test_azure_connection_string() -> None:
    azure = {"ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND": AZURE}
    assert storage_ids(**azure, ASYNC_IMAGE_UPLOAD_AZURE_CONNECTION_STRING=CONNECTION_STRING) == []
    assert storage_ids(
        **azure,
        ASYNC_IMAGE_UPLOAD_AZURE_CONNECTION_STRING="AccountName=acct;SharedAccessSignature=sv=x",
    ) == ["asyncimg.E013"]


def test_storage_problems_fail_manage_py_check() -> None:
    with (
        override_settings(ASYNC_IMAGE_UPLOAD_STORAGE_BACKEND=AZURE),
        pytest.raises(SystemCheckError, match=r"asyncimg\.E012"),
    ):
        call_command("check")


# --- analyzers and moderation ----------------------------------------------------------------


def analyzer_ids(**overrides: Any) -> list[str]:
    from asyncimg.checks import check_analyzers

    with override_settings(**overrides):
        return [m.id or "" for m in check_analyzers()]


def test_default_analyzers_are_clean() -> None:
    assert analyzer_ids() == []


@pytest.mark.parametrize(
    "value", [["placeholder", "perceptualhash"], ["no.such.Analyzer"], 5, [""], [None]]
)
def test_bad_analyzers(value: Any) -> None:
    assert analyzer_ids(ASYNC_IMAGE_UPLOAD_ANALYZERS=value) == ["asyncimg.E018"]


def test_a_dotted_analyzer_path_is_accepted() -> None:
    path = "tests.processor.test_analyzers.SizeProbe"
    assert analyzer_ids(ASYNC_IMAGE_UPLOAD_ANALYZERS=["placeholder", path]) == []


@pytest.mark.parametrize(
    "policy",
    ["reject", {"block": {"Violence": 50}}, {"reject": {"Violence": 150}}, {"hold": ["x"]}],
)
def test_bad_moderation_policy(policy: Any) -> None:
    rekognition = ["rekognition"]
    ids = analyzer_ids(
        ASYNC_IMAGE_UPLOAD_MODERATION=policy, ASYNC_IMAGE_UPLOAD_ANALYZERS=rekognition
    )
    assert ids == ["asyncimg.E019"]


def test_moderation_needs_rekognition() -> None:
    policy = {"reject": {"Violence": 90}}
    assert analyzer_ids(ASYNC_IMAGE_UPLOAD_MODERATION=policy) == ["asyncimg.E020"]
    both = {
        "ASYNC_IMAGE_UPLOAD_ANALYZERS": ["rekognition"],
        "ASYNC_IMAGE_UPLOAD_MODERATION": policy,
    }
    assert analyzer_ids(**both) == []


@pytest.mark.parametrize("value", [-1, 4, "x"])
def test_duplicate_distance_range(value: Any) -> None:
    assert analyzer_ids(ASYNC_IMAGE_UPLOAD_DUPLICATE_DISTANCE=value) == ["asyncimg.E021"]
