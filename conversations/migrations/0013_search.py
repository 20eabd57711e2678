from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0012_contact_details"),
        ("contacts", "0001_initial"),
    ]

    operations = []
