"""The chart-access audit trail becomes the one access log of health data (ChartAccess renamed
AccessLogEntry, its rows kept as chart views), and visit notes gain their versions and addenda.
A note saved before this migration gets its current text as its first kept version."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

SUPERUSER = "superuser"


def fill_in_existing_entries(apps, schema_editor):
    AccessLogEntry = apps.get_model("visits", "AccessLogEntry")
    User = apps.get_model("visits", "User")
    # Every entry so far was a chart view; its viewer's role is the best record of theirs.
    AccessLogEntry.objects.update(what="chart", action="view")
    AccessLogEntry.objects.filter(viewer__is_superuser=True).update(viewer_role=SUPERUSER)
    for role in User.objects.values_list("role", flat=True).distinct():
        AccessLogEntry.objects.filter(viewer__is_superuser=False, viewer__role=role).update(
            viewer_role=role
        )


def keep_current_note_texts(apps, schema_editor):
    VisitNote = apps.get_model("visits", "VisitNote")
    VisitNoteVersion = apps.get_model("visits", "VisitNoteVersion")
    for note in VisitNote.objects.filter(version__gt=0, updated_by__isnull=False).iterator():
        kept = VisitNoteVersion.objects.create(
            note=note,
            version=note.version,
            subjective=note.subjective,
            objective=note.objective,
            assessment=note.assessment,
            plan=note.plan,
            saved_by_id=note.updated_by_id,
        )
        VisitNoteVersion.objects.filter(pk=kept.pk).update(saved_at=note.updated_at)


def rename_permissions(apps, schema_editor):
    # Keep the rights groups hold on the old model (e.g. clinic staff's view right).
    Permission = apps.get_model("auth", "Permission")
    for verb in ("add", "change", "delete", "view"):
        Permission.objects.filter(
            content_type__app_label="visits", codename=f"{verb}_chartaccess"
        ).update(codename=f"{verb}_accesslogentry", name=f"Can {verb} access log entry")


def rename_permissions_back(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    for verb in ("add", "change", "delete", "view"):
        Permission.objects.filter(
            content_type__app_label="visits", codename=f"{verb}_accesslogentry"
        ).update(codename=f"{verb}_chartaccess", name=f"Can {verb} chart access")


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("visits", "0003_chartaccess_visitnote"),
    ]

    operations = [
        migrations.RenameModel(old_name="ChartAccess", new_name="AccessLogEntry"),
        migrations.AlterModelOptions(
            name="accesslogentry",
            options={
                "ordering": ["-accessed_at", "-pk"],
                "verbose_name": "access log entry",
                "verbose_name_plural": "access log",
            },
        ),
        migrations.AlterField(
            model_name="accesslogentry",
            name="viewer",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="access_log_entries",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="accesslogentry",
            name="patient",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="access_log_entries",
                to="visits.patient",
            ),
        ),
        migrations.AlterField(
            model_name="accesslogentry",
            name="channel",
            field=models.CharField(
                choices=[
                    ("visit_room", "Visit room sidebar"),
                    ("api", "REST API"),
                    ("admin", "Admin"),
                    ("portal", "Portal"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="accesslogentry",
            name="viewer_role",
            field=models.CharField(
                choices=[
                    ("patient", "Patient"),
                    ("doctor", "Doctor"),
                    ("admin", "Clinic staff"),
                    ("superuser", "Superuser"),
                ],
                default="",
                max_length=16,
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="accesslogentry",
            name="what",
            field=models.CharField(
                choices=[
                    ("chart", "Chart"),
                    ("appointment", "Appointment"),
                    ("note", "Visit note"),
                    ("note_history", "Visit note history"),
                    ("chat", "Chat"),
                ],
                default="chart",
                max_length=16,
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="accesslogentry",
            name="action",
            field=models.CharField(
                choices=[
                    ("view", "View"),
                    ("list", "List"),
                    ("create", "Create"),
                    ("update", "Update"),
                    ("addendum", "Addendum"),
                ],
                default="view",
                max_length=16,
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="accesslogentry",
            name="record",
            field=models.CharField(blank=True, default="", max_length=100),
            preserve_default=False,
        ),
        migrations.RunPython(fill_in_existing_entries, migrations.RunPython.noop),
        migrations.RunPython(rename_permissions, rename_permissions_back),
        migrations.CreateModel(
            name="VisitNoteVersion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("version", models.PositiveIntegerField()),
                ("subjective", models.TextField(blank=True, max_length=20000)),
                ("objective", models.TextField(blank=True, max_length=20000)),
                ("assessment", models.TextField(blank=True, max_length=20000)),
                ("plan", models.TextField(blank=True, max_length=20000)),
                ("saved_at", models.DateTimeField(auto_now_add=True)),
                (
                    "note",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="versions",
                        to="visits.visitnote",
                    ),
                ),
                (
                    "saved_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["note", "version"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("note", "version"), name="visit_note_version_unique"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="VisitNoteAddendum",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("text", models.TextField(max_length=20000)),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                (
                    "author",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "note",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="addenda",
                        to="visits.visitnote",
                    ),
                ),
            ],
            options={
                "ordering": ["created_at", "pk"],
                "verbose_name_plural": "visit note addenda",
            },
        ),
        migrations.RunPython(keep_current_note_texts, migrations.RunPython.noop),
    ]
