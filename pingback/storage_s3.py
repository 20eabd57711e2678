"""The S3-compatible backend of attachment files: django-storages' `S3Storage`
with the two ways the attachment view serves a file from the bucket: streamed
through PingBack (`open_stream`), or, with the `redirect` option, a redirect to
a short-lived pre-signed URL (`signed_url`). Configured by
`pingback.storage.media_storages` (docs/deployment.md, "Media storage").

Source: django-storages, "Amazon S3";
https://django-storages.readthedocs.io/en/latest/backends/amazon-S3.html and
Amazon S3 API reference, GetObject (`response-content-type`,
`response-content-disposition`).
"""

from __future__ import annotations

from typing import Any, BinaryIO

from botocore.exceptions import ClientError
from storages.backends.s3 import S3Storage
from storages.utils import clean_name


class MediaS3Storage(S3Storage):
    """django-storages' S3 backend with PingBack's serving options.

    `redirect` (bool, default False): the attachment view answers 302 to a
    pre-signed URL valid `querystring_expire` seconds instead of streaming.
    Files are never overwritten (`file_overwrite` False), as on the file
    system: a second file of the same name gets a suffix."""

    redirect = False

    def get_default_settings(self) -> dict[str, Any]:
        return {
            **super().get_default_settings(),
            "redirect": False,
            "file_overwrite": False,
        }

    def open_stream(self, name: str) -> tuple[BinaryIO, int]:
        """The object `name` as a stream read straight from the bucket (one
        GET, nothing spooled to disk or memory) and its size in bytes. Close
        it after use. Raises `FileNotFoundError` when the object is gone."""
        key = self._normalize_name(clean_name(name))
        try:
            answer = self.connection.meta.client.get_object(
                Bucket=self.bucket_name, Key=key
            )
        except ClientError as error:
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                raise FileNotFoundError(f"File does not exist: {name}") from error
            raise
        return answer["Body"], int(answer["ContentLength"])

    def signed_url(
        self, name: str, *, content_type: str, filename: str, inline: bool
    ) -> str:
        """A pre-signed GET URL for `name`, valid `querystring_expire` seconds,
        that makes the bucket answer with `content_type` and a
        `Content-Disposition` of `inline` or `attachment` with `filename`
        (S3 GetObject's `response-content-type` and
        `response-content-disposition`). With a `custom_domain` the URL is
        that domain's plain link (not signed): the domain serves the bucket."""
        if self.custom_domain:
            return self.url(name)
        quoted = filename.replace("\\", "_").replace('"', "_")
        disposition = "inline" if inline else "attachment"
        return self.url(
            name,
            parameters={
                "ResponseContentType": content_type,
                "ResponseContentDisposition": f'{disposition}; filename="{quoted}"',
            },
        )
