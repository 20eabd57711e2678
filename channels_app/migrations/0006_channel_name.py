# Existing channels keep a blank name (shown as before, "Telegram d287c12a")
# until their next setup run fills it from the platform.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("channels_app", "0005_channel_auto_assign_team"),
    ]

    operations = [
        migrations.AddField(
            model_name="channel",
            name="name",
            field=models.CharField(
                blank=True,
                help_text="Shown in the inbox; filled from the platform at setup "
                "(the bot's @username, the number, the mailbox) until an admin "
                "types one.",
                max_length=200,
            ),
        ),
    ]
