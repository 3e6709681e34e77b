"""A single-page app on another origin, as docs/auth.md sets it up: django-cors-headers answers
the preflight of ``/graphql/`` (``Authorization`` allowed, no credentials), the app sends a bearer
token, and the bucket's CORS rule (what ``asyncimg_doctor`` prints) lets its page POST the file."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from asyncimg.aws import bucket_cors
from tests.tokens import make_token

SPA = "https://spa.example.net"
REQUEST = (
    "mutation($input: RequestImageUploadInput!) "
    "{ requestImageUpload(input: $input) { upload { id } presignedPost { url } } }"
)


@pytest.fixture
def cors(settings: Any) -> None:
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "corsheaders"]
    settings.MIDDLEWARE = ["corsheaders.middleware.CorsMiddleware", *settings.MIDDLEWARE]
    settings.CORS_ALLOWED_ORIGINS = [SPA]
    settings.CORS_URLS_REGEX = r"^/graphql/$"
    settings.CORS_ALLOW_HEADERS = ["authorization", "content-type"]
    settings.ASYNC_IMAGE_UPLOAD_TOKEN_AUTHENTICATOR = "tests.tokens.authenticate"


@pytest.mark.django_db
@pytest.mark.usefixtures("cors")
def test_the_preflight_allows_the_authorization_header() -> None:
    response = Client().options(
        "/graphql/",
        headers={
            "Origin": SPA,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SPA
    assert "authorization" in response["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response  # tokens, not cookies


@pytest.mark.django_db
@pytest.mark.usefixtures("cors")
def test_the_spa_requests_an_upload_with_its_token(user: Any, s3: Any) -> None:
    response = Client(enforce_csrf_checks=True).post(
        "/graphql/",
        data=json.dumps(
            {
                "query": REQUEST,
                "variables": {
                    "input": {"filename": "a.jpg", "contentType": "image/jpeg", "size": 10}
                },
            }
        ),
        content_type="application/json",
        headers={"Origin": SPA, "Authorization": f"Bearer {make_token(user)}"},
    )
    assert response.status_code == 200, response.content
    assert response["Access-Control-Allow-Origin"] == SPA
    assert "errors" not in response.json()


@pytest.mark.django_db
@pytest.mark.usefixtures("cors")
def test_other_origins_get_no_cors_headers() -> None:
    response = Client().options(
        "/graphql/",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in response


def test_the_bucket_rule_lets_the_spa_post_to_storage(s3: Any, moto_endpoint: str) -> None:
    """The bucket CORS configuration of the doctor's fix, applied to moto, answers the browser's
    preflight of the presigned POST from the SPA's origin."""
    import requests

    from tests.conftest import BUCKET

    s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration=bucket_cors([SPA]))
    preflight = requests.options(
        f"{moto_endpoint}/{BUCKET}",
        headers={"Origin": SPA, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == SPA
