"""The storage module against the real S3 server (weed mini)."""

from __future__ import annotations

import io
import os

import pytest

from helpline_common import devstore
from helpline_common.errors import NotFound, Unavailable
from helpline_common.settings import StoreSettings
from helpline_common.storage import PART_SIZE, ObjectStore


def test_bucket_setup_is_idempotent(store_settings):
    store = ObjectStore(store_settings)
    store.ensure_bucket()
    store.ensure_bucket()
    store.ping()


def test_bytes_and_json_round_trip_with_metadata(store_settings):
    store = ObjectStore(store_settings)
    store.ensure_bucket()
    store.put_bytes("a/b.bin", b"\x00\x01payload", metadata={"sha256": "abc"})
    assert store.get_bytes("a/b.bin") == b"\x00\x01payload"
    assert store.stat("a/b.bin").metadata["sha256"] == "abc"
    store.put_json("a/c.json", {"region": "77", "текст": "да"})
    assert store.get_json("a/c.json") == {"region": "77", "текст": "да"}
    assert sorted(store.list_keys("a/")) == ["a/b.bin", "a/c.json"]
    store.delete("a/b.bin")
    assert not store.exists("a/b.bin")
    with pytest.raises(NotFound):
        store.get_bytes("a/b.bin")


def test_large_object_streams_in_parts(store_settings):
    store = ObjectStore(store_settings)
    store.ensure_bucket()
    data = os.urandom(2 * PART_SIZE + 12345)  # three multipart parts, unknown length
    store.upload_stream("big.wav", io.BytesIO(data), -1)
    chunks = list(store.iter_chunks("big.wav", chunk_size=1 << 20))
    assert max(len(c) for c in chunks) <= 1 << 20
    assert b"".join(chunks) == data


def test_store_down_is_unavailable_not_a_crash():
    settings = StoreSettings(endpoint=f"127.0.0.1:{devstore.free_port()}", retries=0, timeout_s=1,
                             access_key="k", secret_key="s")
    store = ObjectStore(settings)
    with pytest.raises(Unavailable):
        store.ensure_bucket()
    with pytest.raises(Unavailable):
        store.get_json("x.json")


def test_wrong_credentials_are_unavailable_with_the_reason(s3):
    settings = StoreSettings(endpoint=s3.endpoint, access_key=s3.access_key, secret_key="wrong-secret", retries=0)
    with pytest.raises(Unavailable, match="SignatureDoesNotMatch|AccessDenied"):
        ObjectStore(settings).ensure_bucket()


def test_the_dev_store_takes_as_many_buckets_as_the_tests_use(s3, monkeypatch):
    """Each bucket takes a volume of its own; by default weed mini allows free disk / 1 GiB of them, which
    ran out in a full test run on a machine with 21 GB free (devstore.MAX_VOLUMES)."""
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    for n in range(60):
        store = ObjectStore(StoreSettings(bucket=f"many-{n}"))
        store.ensure_bucket()
        store.put_bytes("x", b"written")
        assert store.get_bytes("x") == b"written"
