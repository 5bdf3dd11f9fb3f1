"""Invoice and credit-note PDFs in the documents bucket, and the links that open them.

Keys are deterministic (`invoices/{account}/{number}.pdf`, `credit-notes/{account}/{number}.pdf`):
rendering again writes a new version of the same object (the bucket is versioned), so a link or a
bank reference built from the number never changes. A link is a presigned GET valid 5 minutes;
the object itself stays private.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import ClientError

from tally.storage.errors import error_code
from tally.storage.guard import transient_as_unavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DocumentKind = Literal["invoice", "credit_note"]
LINK_SECONDS = 300
# HeadObject has no body, so a missing key answers its bare status. Without s3:ListBucket on
# the bucket, S3 answers 403 for a missing key instead: that one is raised, not read as absent.
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_FOLDERS: dict[DocumentKind, str] = {"invoice": "invoices", "credit_note": "credit-notes"}


def document_key(kind: DocumentKind, account_id: str, number: str) -> str:
    return f"{_FOLDERS[kind]}/{account_id}/{number}.pdf"


@dataclass(frozen=True)
class StoredDocument:
    key: str
    version_id: str | None  # None where the bucket keeps no versions


class DocumentStore:
    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, kind: DocumentKind, account_id: str, number: str, pdf: bytes) -> StoredDocument:
        key = document_key(kind, account_id, number)
        with transient_as_unavailable():
            answer = self._client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=pdf,
                ContentType="application/pdf",
                ContentDisposition=f'inline; filename="{number}.pdf"',
                ServerSideEncryption="AES256",
            )
        return StoredDocument(key, answer.get("VersionId"))

    def exists(self, key: str) -> bool:
        """Whether the object is there (one HeadObject): a PDF missing because its rendering
        failed after the change it follows was committed can be rendered on demand."""
        try:
            with transient_as_unavailable():
                self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in _MISSING:
                return False
            raise
        return True

    def link(self, key: str, seconds: int = LINK_SECONDS) -> str:
        """A presigned GET of the latest version: signing is local, no request is made."""
        return self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=seconds
        )
