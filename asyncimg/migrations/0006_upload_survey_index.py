# The survey of a request for upload credentials (quota, reuse) reads an owner's live PENDING
# uploads through this index, whatever the owner's history. Numbered 0006 beside the analyzers'
# 0005: the dependency is fixed up when both are merged.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("asyncimg", "0005_moderation_fingerprints"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="upload",
            index=models.Index(
                fields=["owner", "status", "expires_at"], name="asyncimg_owner_pending"
            ),
        ),
    ]
