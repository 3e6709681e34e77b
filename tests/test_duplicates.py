"""``ProcessedImage.duplicates``: perceptual hashes made by the real processor from resized and
re-encoded copies, found through the band index; other owners' and different images are not."""

from __future__ import annotations

import random
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from asyncimg.models import ImageFingerprint, Upload
from asyncimg.services import analysis
from asyncimg.services.owners import Owner
from asyncimg_processor.core import process
from tests.callbacks import callback_body, image_payload
from tests.conftest import GraphQL
from tests.processor.images import encode
from tests.processor.test_analyzers import scene
from tests.test_callback import make_upload, post

pytestmark = pytest.mark.django_db

QUERY = """query($id: ID!) { upload(id: $id) { image { id duplicates(first: 5) { id } } } }"""


def ready(user: Any, data: bytes) -> Upload:
    """An upload made READY by a callback carrying what the processor made of ``data``."""
    upload = make_upload(user)
    image = image_payload(str(upload.pk))
    image["metadata"] = process(data).metadata
    response = post(Client(), callback_body(str(upload.pk), "succeeded", image=image))
    assert response.status_code == 200, response.content
    return Upload.objects.get(pk=upload.pk)


@pytest.fixture(scope="module")
def pictures() -> dict[str, bytes]:
    original = scene(1)
    return {
        "original": encode(original, "JPEG", quality=92),
        "half": encode(original.resize((1200, 800)), "JPEG", quality=60),
        "webp": encode(original.resize((800, 533)), "WEBP", quality=50),
        "other": encode(scene(2), "JPEG", quality=92),
        "flipped": encode(original.transpose(0), "JPEG", quality=92),  # FLIP_LEFT_RIGHT
    }


def _ids(result: dict[str, Any]) -> set[str]:
    return {d["id"] for d in result["data"]["upload"]["image"]["duplicates"]}


def test_copies_are_duplicates_and_different_images_are_not(
    gql: GraphQL, user: Any, other_user: Any, pictures: dict[str, bytes]
) -> None:
    uploads = {name: ready(user, data) for name, data in pictures.items()}
    theirs = ready(other_user, pictures["half"])
    result = gql(QUERY, {"id": str(uploads["original"].pk)})
    assert "errors" not in result, result
    expected = {str(uploads["half"].image_id), str(uploads["webp"].image_id)}
    assert _ids(result) == expected
    assert str(theirs.image_id) not in _ids(result)
    # Symmetric: the copy finds the original.
    back = gql(QUERY, {"id": str(uploads["webp"].pk)})
    assert str(uploads["original"].image_id) in _ids(back)
    # A different picture has none.
    assert _ids(gql(QUERY, {"id": str(uploads["other"].pk)})) == set()


def test_held_images_are_not_offered_as_duplicates(
    gql: GraphQL, user: Any, settings: Any, pictures: dict[str, bytes]
) -> None:
    original = ready(user, pictures["original"])
    settings.ASYNC_IMAGE_UPLOAD_MODERATION = {"hold": {"*": 0}}
    held = ready(user, pictures["half"])
    assert held.moderation_status == "PENDING_REVIEW"
    assert _ids(gql(QUERY, {"id": str(original.pk)})) == set()


def test_first_bounds_the_answer(gql: GraphQL, user: Any, pictures: dict[str, bytes]) -> None:
    original = ready(user, pictures["original"])
    for _ in range(3):
        ready(user, pictures["half"])
    one = gql(QUERY.replace("first: 5", "first: 1"), {"id": str(original.pk)})
    assert len(_ids(one)) == 1
    assert _ids(gql(QUERY.replace("first: 5", "first: -3"), {"id": str(original.pk)})) == set()


def _flip(value: int, bits: int, rnd: random.Random) -> int:
    for bit in rnd.sample(range(64), bits):
        value ^= 1 << bit
    return value


def _crowd(user: Any, count: int, rnd: random.Random) -> None:
    """``count`` fingerprints of random hashes for ``user`` (rows only: the search reads these)."""
    uploads = [make_upload(user) for _ in range(count)]
    rows = []
    for upload in uploads:
        phash = f"{rnd.getrandbits(64):016x}"
        rows.append(
            ImageFingerprint(
                upload=upload, owner_ref=f"u{user.pk}", phash=phash, **analysis._bands(phash)
            )
        )
    ImageFingerprint.objects.bulk_create(rows)


def test_every_hash_within_three_bits_shares_a_band() -> None:
    """The pigeonhole argument the index relies on, checked on random hashes."""
    rnd = random.Random(7)
    for _ in range(2000):
        a = rnd.getrandbits(64)
        b = _flip(a, rnd.randint(0, 3), rnd)
        bands_a = analysis._bands(f"{a:016x}")
        bands_b = analysis._bands(f"{b:016x}")
        assert any(bands_a[k] == bands_b[k] for k in bands_a)


def test_candidates_are_few_among_many_images(user: Any) -> None:
    """2 000 other images of the same owner: only the rows sharing a band are read, and those
    are the near ones (random 16-bit bands collide about once in 16 000 tries)."""
    rnd = random.Random(3)
    _crowd(user, 2000, rnd)
    target = rnd.getrandbits(64)
    near = [make_upload(user) for _ in range(3)]
    for bits, upload in zip((1, 2, 3), near, strict=True):
        phash = f"{_flip(target, bits, rnd):016x}"
        ImageFingerprint.objects.create(
            upload=upload, owner_ref=f"u{user.pk}", phash=phash, **analysis._bands(phash)
        )
    found = list(analysis.candidates(Owner(user_id=user.pk), f"{target:016x}"))
    assert {u.pk for u in near} <= {f.upload_id for f in found}
    assert len(found) < 10
    assert ImageFingerprint.objects.count() == 2003


def test_the_search_uses_the_band_indexes(user: Any) -> None:
    """The query plan reads the (owner_ref, band_i) indexes, not the table (PostgreSQL: a
    BitmapOr of four index scans; SQLite: a multi-index OR; MariaDB: an index merge)."""
    _crowd(user, 3000, random.Random(5))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE asyncimg_imagefingerprint")
    plan = analysis.candidates(Owner(user_id=user.pk), "0123456789abcdef").explain()
    assert "asyncimg_fp_band" in plan, plan
    if connection.vendor == "postgresql":
        assert "Seq Scan" not in plan, plan


def test_duplicates_costs_a_fixed_number_of_queries(
    user: Any, pictures: dict[str, bytes], django_assert_max_num_queries: Any
) -> None:
    original = ready(user, pictures["original"])
    for _ in range(4):
        ready(user, pictures["half"])
    with django_assert_max_num_queries(2):
        found = analysis.duplicates(Owner(user_id=user.pk), str(original.image_id))
    assert len(found) == 4


def test_malformed_hashes_are_not_indexed(user: Any) -> None:
    for bad in ("", "xyz", "0123456789ABCDEF0", None, 12, "ffffffffffffffff\n"):
        upload = make_upload(user)
        image = image_payload(str(upload.pk))
        image["metadata"]["perceptualHash"] = bad
        assert (
            post(Client(), callback_body(str(upload.pk), "succeeded", image=image)).status_code
            == 200
        )
    assert ImageFingerprint.objects.count() == 0
