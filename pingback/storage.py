"""Where attachment files live: Django's storage API over the local file system
(the default) or an S3-compatible bucket shared by every host (django-storages).

`media_storages` turns the `PINGBACK_MEDIA_*` environment variables into the
`STORAGES` setting (docs/deployment.md, "Media storage"); the bucket's backend
is `pingback.storage_s3.MediaS3Storage`. This module imports no AWS library, so
settings load as fast without a bucket.

Source: django-storages, "Amazon S3" (settings `bucket_name`, `endpoint_url`,
`region_name`, `access_key`, `secret_key`, `custom_domain`, `addressing_style`,
`location`, `querystring_expire`, `file_overwrite`);
https://django-storages.readthedocs.io/en/latest/backends/amazon-S3.html
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

FILE_SYSTEM_BACKEND = "django.core.files.storage.FileSystemStorage"
S3_BACKEND = "pingback.storage_s3.MediaS3Storage"
STATICFILES = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}


def media_storages(env) -> tuple[dict[str, Any], list[str]]:
    """The `STORAGES` setting from the environment (`env`: a django-environ
    `Env`), and the origins a browser loads redirected media from (for the
    pages' Content-Security-Policy; empty unless files are served by redirect).

    Without `PINGBACK_MEDIA_S3_BUCKET` files stay on the local file system
    under `MEDIA_ROOT`. With it, in that bucket: `PINGBACK_MEDIA_S3_ENDPOINT_URL`
    (an S3-compatible service; AWS when unset), `PINGBACK_MEDIA_S3_REGION`,
    `PINGBACK_MEDIA_S3_ACCESS_KEY_ID` and `PINGBACK_MEDIA_S3_SECRET_ACCESS_KEY`
    (boto3's own credential chain when unset: an instance role, say),
    `PINGBACK_MEDIA_S3_CUSTOM_DOMAIN`, `PINGBACK_MEDIA_S3_ADDRESSING_STYLE`
    (`auto`, `virtual` or `path`), `PINGBACK_MEDIA_S3_PREFIX` (a folder in a
    shared bucket), `PINGBACK_MEDIA_REDIRECT` (serve by pre-signed redirect)
    and `PINGBACK_MEDIA_REDIRECT_MAX_AGE` (seconds such a URL is valid).

    Raises `ImproperlyConfigured` when any of those is set without the bucket
    (a bucket variable lost on the way would otherwise leave each host
    keeping files to itself), or when the addressing style is not one of
    the three."""
    bucket = env.str("PINGBACK_MEDIA_S3_BUCKET", default="")
    if not bucket:
        stray = sorted(
            name
            for name, value in env.ENVIRON.items()
            if name.startswith("PINGBACK_MEDIA_S3_") and value
        )
        if env.bool("PINGBACK_MEDIA_REDIRECT", default=False):
            stray.append("PINGBACK_MEDIA_REDIRECT")
        if stray:
            raise ImproperlyConfigured(
                f"{', '.join(stray)} set but PINGBACK_MEDIA_S3_BUCKET is not: set "
                "the bucket to keep attachments in it, or unset them to keep "
                "files under MEDIA_ROOT (docs/deployment.md, 'Media storage')."
            )
        return {
            "default": {"BACKEND": FILE_SYSTEM_BACKEND},
            "staticfiles": STATICFILES,
        }, []
    options = {
        "bucket_name": bucket,
        "endpoint_url": env.str("PINGBACK_MEDIA_S3_ENDPOINT_URL", default="") or None,
        "region_name": env.str("PINGBACK_MEDIA_S3_REGION", default="") or None,
        "access_key": env.str("PINGBACK_MEDIA_S3_ACCESS_KEY_ID", default="") or None,
        "secret_key": env.str("PINGBACK_MEDIA_S3_SECRET_ACCESS_KEY", default="")
        or None,
        "custom_domain": env.str("PINGBACK_MEDIA_S3_CUSTOM_DOMAIN", default="") or None,
        "addressing_style": env.str("PINGBACK_MEDIA_S3_ADDRESSING_STYLE", default="")
        or None,
        "location": env.str("PINGBACK_MEDIA_S3_PREFIX", default="").strip("/"),
        "redirect": env.bool("PINGBACK_MEDIA_REDIRECT", default=False),
        "querystring_expire": env.int("PINGBACK_MEDIA_REDIRECT_MAX_AGE", default=300),
        "default_acl": None,
        # Signature Version 4 for requests and pre-signed URLs: what AWS
        # accepts in every region and what S3-compatible services implement.
        "signature_version": "s3v4",
        # A file opened whole (to upload to Telegram or WhatsApp, attach to an
        # e-mail) is buffered in memory up to 2 MiB, on disk beyond.
        "max_memory_size": 2 * 1024 * 1024,
    }
    if options["addressing_style"] not in (None, "auto", "virtual", "path"):
        raise ImproperlyConfigured(
            "PINGBACK_MEDIA_S3_ADDRESSING_STYLE must be auto, virtual or path, not "
            f"{options['addressing_style']!r}."
        )
    storages = {
        "default": {"BACKEND": S3_BACKEND, "OPTIONS": options},
        "staticfiles": STATICFILES,
    }
    return storages, [media_origin(options)] if options["redirect"] else []


def media_origin(options: dict[str, Any]) -> str:
    """The origin (`scheme://host[:port]`) of the URLs `MediaS3Storage` with
    `options` redirects to: the custom domain's, or the bucket's as boto3
    addresses it (endpoint, region and addressing style). Works offline: the
    URL is signed with a throwaway key, no credentials are looked up."""
    if options.get("custom_domain"):
        return f"https://{options['custom_domain']}"
    import boto3
    from botocore.config import Config

    client = boto3.session.Session(
        aws_access_key_id="origin", aws_secret_access_key="origin"
    ).client(
        "s3",
        region_name=options.get("region_name"),
        endpoint_url=options.get("endpoint_url"),
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": options.get("addressing_style")},
        ),
    )
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": options["bucket_name"], "Key": "x"}
    )
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
