from django.core.management.base import BaseCommand, CommandError

from billing.models import Plan
from billing.services import business_create


class Command(BaseCommand):
    help = (
        "Create a business with its first admin. Prints the admin's API token as "
        "the last line."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--plan", choices=Plan.values, default=Plan.FREE)
        parser.add_argument("--admin-email", required=True)
        parser.add_argument(
            "--admin-password",
            default=None,
            help="Password for the web inbox and Django admin (none: API only).",
        )

    def handle(self, *args, name: str, plan: str, admin_email: str, **options) -> None:
        try:
            created = business_create(
                name=name,
                plan=plan,
                admin_email=admin_email,
                admin_password=options["admin_password"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Created business {created.business.name!r} ({created.business.id}) "
            f"on the {plan} plan with admin {admin_email}."
        )
        self.stdout.write("API token (shown once):")
        self.stdout.write(created.token)
