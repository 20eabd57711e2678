"""`python manage.py legacy_encryption_key`: print the key(s) that encrypted
channel credentials before PINGBACK_ENCRYPTION_KEYS existed, to put after the
new key when upgrading (docs/deployment.md, "Upgrading to
PINGBACK_ENCRYPTION_KEYS")."""

from django.conf import settings
from django.core.management.base import BaseCommand

from pingback.encryption import legacy_encryption_keys


class Command(BaseCommand):
    help = (
        "Print the encryption key(s) earlier PingBack versions derived from "
        "DJANGO_SECRET_KEY and PINGBACK_SALT_KEY (one per salt), for "
        "PINGBACK_ENCRYPTION_KEYS when upgrading. Run it with the install's "
        "current DJANGO_SECRET_KEY and PINGBACK_SALT_KEY."
    )

    def handle(self, *args, **options) -> None:
        keys = legacy_encryption_keys(
            settings.SECRET_KEY, settings.PINGBACK_LEGACY_SALT_KEYS
        )
        self.stdout.write("\n".join(keys))
