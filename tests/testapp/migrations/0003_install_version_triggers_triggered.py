from django.db import migrations

from conditional_api.triggers import InstallVersionTriggers


class Migration(migrations.Migration):
    dependencies = [
        ("testapp", "0002_triggered"),
        ("conditional_api", "0001_initial"),
    ]

    operations = [
        InstallVersionTriggers("triggered"),
    ]
