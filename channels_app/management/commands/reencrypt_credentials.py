"""`python manage.py reencrypt_credentials`: rewrite every stored credential
with the first key of PINGBACK_ENCRYPTION_KEYS (after a key rotation)."""

from django.core.management.base import BaseCommand, CommandError

from pingback.encryption import credentials_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every channel credential with the first key of "
        "PINGBACK_ENCRYPTION_KEYS, so the keys after it can be dropped. "
        "Idempotent; prints how many rows were rewritten, already current and "
        "undecryptable (exit status 1 if any are)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=200,
            help="rows rewritten per transaction (default 200)",
        )

    def handle(self, *args, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        result = credentials_reencrypt(batch_size=batch_size)
        self.stdout.write(
            f"Re-encrypted: {result.reencrypted}; "
            f"already under the current key: {result.current}; "
            f"undecryptable: {len(result.undecryptable)}"
        )
        if result.undecryptable:
            raise CommandError(
                "No key in PINGBACK_ENCRYPTION_KEYS decrypts these rows, left "
                "unchanged: "
                + ", ".join(result.undecryptable)
                + ". Add the key that encrypted them after the current one and "
                "run this command again."
            )
