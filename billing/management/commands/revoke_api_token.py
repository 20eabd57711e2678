"""`manage.py revoke_api_token <prefix>`: revoke a token by its prefix."""

from django.core.management.base import BaseCommand, CommandError

from billing.selectors import api_token_find_by_prefix
from billing.services import api_token_revoke


class Command(BaseCommand):
    help = (
        "Revoke the API token whose prefix (its first 10 characters, e.g. "
        "pb_AbC1234, as listed in Django admin and GET /api/v1/tokens/) is given. "
        "Every later request with it answers 401."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("prefix")

    def handle(self, *args, prefix: str, **options) -> None:
        found = api_token_find_by_prefix(prefix)
        if not found:
            raise CommandError(f"No API token has the prefix {prefix!r}.")
        if len(found) > 1:
            raise CommandError(
                f"{len(found)} API tokens share the prefix {prefix!r}; revoke "
                "them from Django admin (API tokens, search by prefix)."
            )
        token = found[0]
        if token.revoked_at is not None:
            self.stdout.write(
                f"Token {token.prefix}… of {token.member.user} was already revoked "
                f"at {token.revoked_at.isoformat()}."
            )
            return
        token = api_token_revoke(token=token)
        self.stdout.write(
            f"Revoked token {token.prefix}… ({token.name}) of {token.member.user}."
        )
