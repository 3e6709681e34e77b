"""schemathesis in GraphQL mode against ``/graphql/`` of a running uvicorn server: queries and
mutations generated from the served schema (introspection on), with arbitrary field selections and
argument values. Whatever they are, the answer is never a 5xx, always a JSON object, and every error
carries an ``extensions.code`` other than the one for unexpected exceptions.

``ASYNCIMG_RELIABILITY_GRAPHQL_EXAMPLES`` sets the examples per operation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from graphql import get_introspection_query
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.reliability.conftest import session_keys
from tests.reliability.harness import Pipeline, env_int

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EXAMPLES = env_int("ASYNCIMG_RELIABILITY_GRAPHQL_EXAMPLES", 25)
#: what the app's error masking answers for an unexpected exception: a bug, like a 500
INTERNAL = "INTERNAL_SERVER_ERROR"
#: Django accepts an unmasked secret as the CSRF cookie and header alike
CSRF = "c" * 32


@pytest.fixture(scope="module")
def graphql_server(moto_url: str, redis_url: str, django_db_setup: Any) -> Iterator[Pipeline]:
    env = {"ASYNC_IMAGE_UPLOAD_GRAPHQL_INTROSPECTION": "1"}
    with Pipeline(moto_url, redis_url, servers=1, workers=0, env=env) as pipeline:
        yield pipeline


#: Introspection is an anonymous POST: with the CSRF cookie and header a page would send.
ANONYMOUS = {"Cookie": f"csrftoken={CSRF}", "X-CSRFToken": CSRF}


def shallow_introspection_query() -> str:
    """graphql-core's introspection query with type references three wrappers deep instead of
    nine: enough for this schema's deepest type (``[ImageVariant!]!``). (The standard query is
    answered too: ``test_standard_introspection_query_is_answered``.)"""
    standard = get_introspection_query()
    head = standard[: standard.index("fragment TypeRef on __Type")]
    type_ref = "kind name"
    for _ in range(3):
        type_ref = f"kind name ofType {{ {type_ref} }}"
    return f"{head}fragment TypeRef on __Type {{ {type_ref} }}"


@pytest.fixture(scope="module")
def graphql_api(graphql_server: Pipeline) -> Any:
    url = f"{graphql_server.asgi[0].url}/graphql/"
    return schemathesis.graphql.from_url(
        url, headers=ANONYMOUS, json={"query": shallow_introspection_query()}, timeout=30
    )


@pytest.fixture
def browser_session(django_user_model: Any) -> requests.Session:
    """A logged-in browser: session cookie, and the CSRF cookie echoed in a header."""
    [key] = session_keys(django_user_model, 1, prefix="fuzz")
    session = requests.Session()
    session.cookies.set("sessionid", key)
    session.cookies.set("csrftoken", CSRF)
    session.headers["X-CSRFToken"] = CSRF
    return session


OPERATIONS = [
    "Query.upload",
    "Query.uploads",
    "Mutation.requestImageUpload",
    "Mutation.requestImageUploads",
    "Mutation.cancelUpload",
]


def check_answer(sent: Any, response: requests.Response, logs: Any) -> None:
    """The contract for any answer to ``sent`` (shown when it fails)."""
    assert response.status_code < 500, (sent, response.text[:500], logs())
    body = response.json()
    assert isinstance(body, dict), body
    assert "data" in body or "errors" in body, body
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert isinstance(code, str), (sent, error)
        assert code, (sent, error)
        assert code != INTERNAL, (sent, error, logs())


# schemathesis' own pytest integration (``from_fixture`` + ``parametrize``) does not run on
# pytest 9; its strategies drive Hypothesis directly instead.
@pytest.mark.parametrize("label", OPERATIONS)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_graphql_answers_every_generated_operation_with_codes(
    label: str,
    mode: GenerationMode,
    graphql_api: Any,
    browser_session: requests.Session,
    graphql_server: Pipeline,
) -> None:
    operation = graphql_api.find_operation_by_label(label)
    assert operation is not None
    sent: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(session=browser_session, timeout=30)
        sent.append(response.status_code)
        check_answer(case.body, response, graphql_server.logs)

    run()
    assert sent, "no operation was generated"


def test_generated_operations_cover_the_contract(graphql_api: Any) -> None:
    """The fuzzing above ran against the whole API, not a schema that failed to load."""
    labels = {result.ok().label for result in graphql_api.get_all_operations()}
    assert labels >= {
        "Query.upload",
        "Query.uploads",
        "Mutation.requestImageUpload",
        "Mutation.requestImageUploads",
        "Mutation.cancelUpload",
    }


def test_standard_introspection_query_is_answered(graphql_server: Pipeline) -> None:
    response = requests.post(
        f"{graphql_server.asgi[0].url}/graphql/",
        json={"query": get_introspection_query()},
        headers=ANONYMOUS,
        timeout=30,
    )
    body = response.json()
    assert body.get("errors") is None, body["errors"]
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


# --- inputs that get past the schema: the resolvers' and services' own checks -------------------

ALLOWED = ["image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "image/avif"]
UPLOAD_FIELDS = """id status filename contentType size createdAt updatedAt expiresAt
  error { code message } image { id width variants { name url } }"""
TICKET = f"upload {{ {UPLOAD_FIELDS} }} presignedPost {{ url fields expiresAt method headers }}"
OPERATIONS_TEXT = {
    "one": "mutation($i: RequestImageUploadInput!) { requestImageUpload(input: $i) { "
    + TICKET
    + " } }",
    "many": "mutation($l: [RequestImageUploadInput!]!) { requestImageUploads(inputs: $l) { "
    + TICKET
    + " } }",
    "get": "query($id: ID!) { upload(id: $id) { " + UPLOAD_FIELDS + " } }",
    "list": """query($s: UploadStatus, $f: Int, $a: String) {
      uploads(status: $s, first: $f, after: $a) {
        totalCount edges { cursor node { id status } } pageInfo { hasNextPage endCursor } } }""",
    "cancel": "mutation($id: ID!) { cancelUpload(id: $id) { " + UPLOAD_FIELDS + " } }",
}
# Weighted towards values the app accepts, so that credentials are granted often enough to be
# checked, read back and cancelled.
filenames = st.one_of(
    st.from_regex(r"[\w .-]{1,40}\.jpg", fullmatch=True),
    st.text(max_size=300),
    st.sampled_from(
        [
            "../../etc/passwd",
            "a/b\\c.jpg",
            "CON.jpg",
            " .jpg",
            "x" * 300 + ".jpg",
            "\u202egnp.jpg",
            "nul\x00.jpg",
            "фото 東京.jpg",
        ]
    ),
)
content_types = st.one_of(
    st.sampled_from(ALLOWED),
    st.sampled_from(ALLOWED),
    st.sampled_from(
        ["image/svg+xml", "IMAGE/JPEG", "image/jpeg; charset=binary", "image/*", "", "text/html"]
    ),
    st.text(max_size=120),
)
sizes = st.one_of(
    st.integers(min_value=1, max_value=10 * 1024 * 1024),
    st.integers(min_value=1, max_value=10 * 1024 * 1024),
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
    st.sampled_from([0, 10 * 1024 * 1024 + 1]),
)
upload_inputs = st.fixed_dictionaries(
    {"filename": filenames, "contentType": content_types, "size": sizes}
)


def check_ticket(ticket: dict[str, Any]) -> None:
    """What a granted credential promises, whatever the input was."""
    upload = ticket["upload"]
    assert upload["status"] == "PENDING"
    assert upload["contentType"] in ALLOWED
    assert 0 < upload["size"] <= 10 * 1024 * 1024
    assert 0 < len(upload["filename"]) <= 255
    assert "/" not in upload["filename"]
    assert "\\" not in upload["filename"]
    assert ticket["presignedPost"]["fields"]["key"].startswith(f"temp/{upload['id']}/")


@settings(
    max_examples=EXAMPLES * 4,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def _semivalid(data: Any, session: requests.Session, url: str, made: list[str], logs: Any) -> None:
    name = data.draw(st.sampled_from(sorted(OPERATIONS_TEXT)), label="operation")
    # An upload made earlier (by position, so that what is drawn does not depend on the list),
    # somebody else's or nobody's id, or not an id at all.
    ids = st.one_of(
        st.integers(min_value=0, max_value=1000).map(
            lambda i: made[i % len(made)] if made else str(uuid.uuid4())
        ),
        st.uuids().map(str),
        st.text(max_size=40),
    )
    variables: dict[str, Any] = {
        "one": lambda: {"i": data.draw(upload_inputs)},
        "many": lambda: {"l": data.draw(st.lists(upload_inputs, max_size=12))},
        "get": lambda: {"id": data.draw(ids)},
        "cancel": lambda: {"id": data.draw(ids)},
        "list": lambda: {
            "s": data.draw(st.none() | st.sampled_from(["PENDING", "READY", "FAILED"])),
            "f": data.draw(st.none() | st.integers(min_value=-5, max_value=500)),
            "a": data.draw(st.none() | st.text(max_size=60)),
        },
    }[name]()
    response = session.post(
        url, json={"query": OPERATIONS_TEXT[name], "variables": variables}, timeout=30
    )
    check_answer({"operation": name, "variables": variables}, response, logs)
    answer = response.json()
    result = (answer.get("data") or {}) if not answer.get("errors") else {}
    tickets = result.get("requestImageUploads") or []
    if result.get("requestImageUpload"):
        tickets = [result["requestImageUpload"]]
    for ticket in tickets:
        check_ticket(ticket)
        made.append(ticket["upload"]["id"])


def test_graphql_inputs_past_the_schema(
    browser_session: requests.Session, graphql_server: Pipeline
) -> None:
    """Inputs of the right types with the values a client may send: every answer keeps the
    contract, and every granted credential is for an accepted type, size and a safe name."""
    made: list[str] = []
    url = f"{graphql_server.asgi[0].url}/graphql/"
    _semivalid(session=browser_session, url=url, made=made, logs=graphql_server.logs)
    assert made, "no credential was ever granted: the generator misses the valid inputs"
