"""The object store, over the MinIO client (MinIO in production, any S3 server in development).

Every method maps store failures to domain errors: a missing object is NotFound, the store being down
or failing is Unavailable (retryable), so a service never crashes because the store is away.
Large recordings are streamed in and out in parts; they are never held whole in memory.
"""

from __future__ import annotations

import functools
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import urllib3
from minio import Minio
from minio.error import S3Error

from helpline_common.errors import Aborted, HelplineError, NotFound, Unavailable
from helpline_common.settings import StoreSettings

log = logging.getLogger(__name__)

PART_SIZE = 8 * 1024 * 1024  # multipart part size for streamed uploads (S3 minimum is 5 MiB)
_MISSING = {"NoSuchKey", "NoSuchObject", "NoSuchVersion"}


def _translated(method):
    """Turn client and network failures into NotFound / Unavailable."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except HelplineError:
            raise
        except S3Error as exc:
            if exc.code == "PreconditionFailed":
                raise Aborted("the object changed meanwhile") from exc
            if exc.code in _MISSING:
                raise NotFound(f"object not found: {exc.resource or ''}".strip()) from exc
            if exc.code == "NoSuchBucket":
                raise BucketMissing(args[0].bucket) from exc
            log.warning("object store error", extra={"s3_code": exc.code, "op": method.__name__})
            raise Unavailable(f"object store error: {exc.code}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning("object store unreachable", extra={"op": method.__name__, "error": type(exc).__name__})
            raise Unavailable(f"object store unavailable at {args[0].endpoint} (HELPLINE_S3_ENDPOINT)") from exc

    return wrapper


class BucketMissing(Unavailable):
    """The store answers, but the bucket is not there (yet): the gateway creates it when it starts."""

    def __init__(self, bucket: str):
        super().__init__(f"bucket {bucket} does not exist in the object store; the gateway creates it when it "
                         "starts (HELPLINE_S3_BUCKET names it)")


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    metadata: dict[str, str]


class ObjectStore:
    """One bucket of the S3 store; keys come from `helpline_common.layout`."""

    def __init__(self, settings: StoreSettings):
        self.bucket, self.endpoint = settings.bucket, settings.endpoint
        timeout = urllib3.Timeout(connect=min(settings.timeout_s, 5.0), read=settings.timeout_s)
        retries = urllib3.Retry(total=settings.retries, backoff_factor=0.2,
                                status_forcelist=(500, 502, 503, 504), allowed_methods=None)
        self.client = Minio(
            settings.endpoint, access_key=settings.access_key.get_secret_value(),
            secret_key=settings.secret_key.get_secret_value(), secure=settings.secure,
            region=settings.region,
            http_client=urllib3.PoolManager(timeout=timeout, retries=retries, maxsize=32),
        )

    @_translated
    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (safe to call from every replica at start-up)."""
        if self.client.bucket_exists(self.bucket):
            return
        try:
            self.client.make_bucket(self.bucket)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    @_translated
    def ping(self) -> None:
        """Raise Unavailable unless the store answers and the bucket exists."""
        if not self.client.bucket_exists(self.bucket):
            raise BucketMissing(self.bucket)

    # -- small objects -------------------------------------------------------------------------

    @_translated
    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream",
                  metadata: dict[str, str] | None = None) -> str:
        result = self.client.put_object(self.bucket, key, io.BytesIO(data), len(data),
                                        content_type=content_type, metadata=metadata)
        return result.etag

    @_translated
    def get_bytes(self, key: str) -> bytes:
        response = self.client.get_object(self.bucket, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def put_json(self, key: str, value: Any, metadata: dict[str, str] | None = None) -> str:
        data = json.dumps(value, ensure_ascii=False, sort_keys=True).encode()
        return self.put_bytes(key, data, "application/json", metadata)

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    @_translated
    def get_json_with_etag(self, key: str) -> tuple[Any, str]:
        response = self.client.get_object(self.bucket, key)
        try:
            return json.loads(response.read()), response.headers.get("etag", "").strip('"')
        finally:
            response.close()
            response.release_conn()

    @_translated
    def put_json_conditional(self, key: str, value: Any, *, if_match: str | None = None) -> str:
        """Write only if the object does not exist (if_match None) or still has etag `if_match`.

        Raises Aborted when another writer got there first. The S3 conditional PUT (If-None-Match /
        If-Match) is supported by MinIO and SeaweedFS; minio-py has no public argument for it, hence
        the internal `_put_object`.
        """
        data = json.dumps(value, ensure_ascii=False, sort_keys=True).encode()
        headers = {"Content-Type": "application/json"}
        headers.update({"If-Match": f'"{if_match}"'} if if_match else {"If-None-Match": "*"})
        return self.client._put_object(self.bucket, key, data, headers=headers).etag

    # -- large objects -------------------------------------------------------------------------

    @_translated
    def upload_stream(self, key: str, stream: BinaryIO, length: int = -1,
                      content_type: str = "application/octet-stream",
                      metadata: dict[str, str] | None = None) -> str:
        """Upload from a file-like object in parts; length -1 when unknown."""
        result = self.client.put_object(self.bucket, key, stream, length, content_type=content_type,
                                        metadata=metadata, part_size=PART_SIZE)
        return result.etag

    @_translated
    def iter_chunks(self, key: str, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        """Stream an object's bytes; the connection is released when the iterator ends."""
        response = self.client.get_object(self.bucket, key)
        try:
            yield from response.stream(chunk_size)
        finally:
            response.close()
            response.release_conn()

    @_translated
    def download_file(self, key: str, path: str) -> None:
        self.client.fget_object(self.bucket, key, path)

    # -- listing and metadata ------------------------------------------------------------------

    @_translated
    def stat(self, key: str) -> ObjectInfo:
        st = self.client.stat_object(self.bucket, key)
        meta = {k.lower().removeprefix("x-amz-meta-"): v for k, v in (st.metadata or {}).items()
                if k.lower().startswith("x-amz-meta-")}
        return ObjectInfo(key, st.size or 0, (st.etag or "").strip('"'), meta)

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except NotFound:
            return False
        return True

    @_translated
    def list_keys(self, prefix: str, recursive: bool = True) -> list[str]:
        return [obj.object_name for obj in self.client.list_objects(self.bucket, prefix, recursive=recursive)]

    @_translated
    def delete(self, key: str) -> None:
        self.client.remove_object(self.bucket, key)
