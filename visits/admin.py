"""The clinic staff's back office: people, hours, charts and the appointment book."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.widgets import AdminSplitDateTime
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic.errors import ApplicationError
from visits.admin_audit import AccessAuditedAdmin, AccessLogExportAdmin, Action
from visits.models import (
    AccessLogEntry,
    Allergy,
    Appointment,
    AppointmentStatus,
    Condition,
    Doctor,
    Medication,
    Patient,
    Role,
    User,
    VisitNote,
    VisitNoteAddendum,
    VisitNoteVersion,
    WorkingHours,
)
from visits.services import (
    TRANSITIONS,
    appointment_set_details,
    appointment_transition,
    patient_save_with_unique_mrn,
    user_account_check_change,
    user_may_manage_account,
    user_may_set_password,
    user_sync_role_rights,
    working_hours_validate_day,
)
from visits.services.access_log import record_request_security_event
from visits.services.mfa import mfa_reset

PERMISSION_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")


def _fieldsets_without(fieldsets, hidden: tuple[str, ...]) -> list:
    kept = []
    for name, options in fieldsets:
        fields = [field for field in options["fields"] if field not in hidden]
        if fields:
            kept.append((name, {**options, "fields": fields}))
    return kept


def delete_selected_users(modeladmin, request, queryset):
    """Django's bulk delete checks only the model permission: refuse the whole selection when it
    holds an account this user may not delete, before the confirmation page and after it."""
    refused = [user for user in queryset if not modeladmin.has_delete_permission(request, user)]
    if refused:
        names = ", ".join(sorted(user.username for user in refused))
        modeladmin.message_user(
            request,
            f"Nothing was deleted: only a superuser deletes staff and superusers ({names}).",
            messages.ERROR,
        )
        return None
    return django_delete_selected(modeladmin, request, queryset)


# Devices are the person's own: enrolled in the portal, never made or read here (a TOTP secret
# in the admin would be a second factor anyone with the admin holds). Staff remove them with
# the accounts' "Reset two-step sign-in" action.
admin.site.unregister(TOTPDevice)
admin.site.unregister(StaticDevice)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Accounts, under `visits.services.people.user_may_manage_account`: superusers manage
    everyone; other clinic staff manage patients' and doctors' accounts (a patient's password
    too, never a doctor's: `user_may_set_password`), see staff and superuser accounts (their
    own too) read-only, and never see or set is_staff, is_superuser, groups or user
    permissions, nor offer the clinic staff role."""

    list_display = (
        "username",
        "first_name",
        "last_name",
        "email",
        "role",
        "is_active",
        "two_step_sign_in",
    )
    list_filter = ("role", "is_active", "is_staff")
    actions = ("reset_two_step_sign_in",)
    search_fields = ("username", "first_name", "last_name", "email")
    ordering = ("last_name", "first_name", "username")
    fieldsets = (
        *DjangoUserAdmin.fieldsets[:1],
        ("Role", {"fields": ("role",)}),
        *DjangoUserAdmin.fieldsets[1:],
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username",
                    "first_name",
                    "last_name",
                    "email",
                    "role",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    readonly_fields = ("last_login", "date_joined")

    def _may_manage(self, request, obj) -> bool:
        return obj is None or user_may_manage_account(actor=request.user, target=obj)

    def get_queryset(self, request):
        enrolled = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(has_two_step=Exists(enrolled))

    @admin.display(boolean=True, description="Two-step sign-in", ordering="has_two_step")
    def two_step_sign_in(self, obj) -> bool:
        return obj.has_two_step

    @admin.action(permissions=["change"], description="Reset two-step sign-in (lost phone)")
    def reset_two_step_sign_in(self, request, queryset):
        """Removes the selected people's authenticator app and recovery codes; a role that
        requires them enrols again at the next sign-in. Refused whole when the selection holds
        an account this user may not manage."""
        refused = [u for u in queryset if not user_may_manage_account(actor=request.user, target=u)]
        if refused:
            names = ", ".join(sorted(user.username for user in refused))
            self.message_user(
                request,
                f"Nothing was reset: only a superuser resets staff and superusers ({names}).",
                messages.ERROR,
            )
            return
        for user in queryset:
            mfa_reset(actor=request.user, user=user)
            record_request_security_event(
                event=AccessLogEntry.Event.MFA_RESET,
                request=request,
                user=request.user,
                record=f"of {user.get_username()}",
            )
        self.message_user(
            request,
            f"Two-step sign-in reset for {queryset.count()} account(s): they set it up again "
            "at their next sign-in (if their role requires it).",
            messages.SUCCESS,
        )

    # Per account, so the change form, the password form (which asks has_change_permission),
    # the delete page and the bulk delete all follow the rule.
    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may_manage(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may_manage(request, obj)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        hidden = PERMISSION_FIELDS
        if obj is not None and not user_may_set_password(actor=request.user, target=obj):
            # No "Reset password" button to a form that would refuse them.
            hidden = (*hidden, "password")
        return _fieldsets_without(fieldsets, hidden)

    def user_change_password(self, request, id, form_url=""):
        user = self.get_object(request, id)
        if user is not None and not user_may_set_password(actor=request.user, target=user):
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        if not request.user.is_superuser:
            readonly = (*readonly, *PERMISSION_FIELDS)
        return readonly

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "role" and not request.user.is_superuser:
            kwargs["choices"] = [
                (value, label) for value, label in Role.choices if value != Role.ADMIN
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            _, name, description = actions["delete_selected"]
            actions["delete_selected"] = (delete_selected_users, name, description)
        return actions

    def save_model(self, request, obj, form, change):
        stored = User.objects.get(pk=obj.pk) if change else None
        try:
            user_account_check_change(actor=request.user, stored=stored, changed=obj)
        except ApplicationError as error:
            raise PermissionDenied(error.message) from error
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # After the form's groups are saved: rights follow the role, whatever was ticked.
        user_sync_role_rights(form.instance)

    def delete_model(self, request, obj):
        if not user_may_manage_account(actor=request.user, target=obj):
            raise PermissionDenied
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        if any(not user_may_manage_account(actor=request.user, target=u) for u in queryset):
            raise PermissionDenied
        super().delete_queryset(request, queryset)


class WorkingHoursFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        ranges: dict[int, list] = {}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not data.get("start_time"):
                continue
            ranges.setdefault(data["weekday"], []).append((data["start_time"], data["end_time"]))
        for weekday, day_ranges in ranges.items():
            try:
                working_hours_validate_day(weekday, day_ranges)
            except ApplicationError as error:
                raise forms.ValidationError(error.message) from error


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    formset = WorkingHoursFormSet
    extra = 1
    ordering = ("weekday", "start_time")


class ProfileUserForm(forms.ModelForm):
    """Offers only users of the profile's role, so a patient cannot be made a doctor by mistake."""

    profile_role: str = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "user" in self.fields:
            self.fields["user"].queryset = User.objects.filter(role=self.profile_role)

    def clean_user(self):
        user = self.cleaned_data["user"]
        if user.role != self.profile_role:
            raise forms.ValidationError(f"Choose a user whose role is {self.profile_role}.")
        return user


class DoctorForm(ProfileUserForm):
    profile_role = Role.DOCTOR

    class Meta:
        model = Doctor
        fields = [
            "user",
            "display_name",
            "specialty",
            "license_number",
            "time_zone",
            "appointment_length_minutes",
            "is_active",
        ]


class PatientForm(ProfileUserForm):
    profile_role = Role.PATIENT

    class Meta:
        model = Patient
        fields = [
            "user",
            "date_of_birth",
            "sex",
            "phone",
            "email",
            "emergency_contact_name",
            "emergency_contact_relationship",
            "emergency_contact_phone",
        ]


@admin.register(Doctor)
class DoctorAdmin(admin.ModelAdmin):
    form = DoctorForm
    list_display = (
        "display_name",
        "specialty",
        "license_number",
        "time_zone",
        "appointment_length_minutes",
        "is_active",
    )
    list_filter = ("specialty", "is_active", "time_zone")
    search_fields = ("display_name", "license_number", "user__username", "user__last_name")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    inlines = [WorkingHoursInline]
    ordering = ("display_name",)


class AllergyInline(admin.TabularInline):
    model = Allergy
    extra = 0
    readonly_fields = ("recorded_at",)


class MedicationInline(admin.TabularInline):
    model = Medication
    extra = 0


class ConditionInline(admin.TabularInline):
    model = Condition
    extra = 0


@admin.register(Patient)
class PatientAdmin(AccessAuditedAdmin):
    form = PatientForm
    audit_what = AccessLogEntry.What.CHART
    list_display = (
        "full_name",
        "medical_record_number",
        "date_of_birth",
        "sex",
        "phone",
        "allergy_count",
    )
    list_filter = ("sex",)
    search_fields = (
        "medical_record_number",
        "user__first_name",
        "user__last_name",
        "user__username",
        "email",
        "phone",
    )
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    readonly_fields = ("medical_record_number", "created_at", "updated_at")
    inlines = [AllergyInline, MedicationInline, ConditionInline]
    ordering = ("user__last_name", "user__first_name")
    fieldsets = (
        (None, {"fields": ("user", "medical_record_number", "date_of_birth", "sex")}),
        ("Contact", {"fields": ("phone", "email")}),
        (
            "Emergency contact",
            {
                "fields": (
                    "emergency_contact_name",
                    "emergency_contact_relationship",
                    "emergency_contact_phone",
                )
            },
        ),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(allergy_total=Count("allergies"))

    @admin.display(description="Name", ordering="user__last_name")
    def full_name(self, obj: Patient) -> str:
        return obj.full_name

    @admin.display(description="Allergies", ordering="allergy_total")
    def allergy_count(self, obj: Patient) -> int:
        return obj.allergy_total

    def audit_subject(self, obj: Patient):
        return obj, None

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        else:
            patient_save_with_unique_mrn(obj)


class AppointmentForm(forms.ModelForm):
    """Who, when and why. The status is not edited here: it moves through the list's actions."""

    end = forms.SplitDateTimeField(
        required=False,
        help_text="Leave empty to use the doctor's appointment length.",
        widget=AdminSplitDateTime,
    )
    # Set by AppointmentAdmin when the service refused the save: shown as this form's error.
    refusal: ApplicationError | None = None

    class Meta:
        model = Appointment
        fields = ["doctor", "patient", "start", "end", "reason"]

    def clean(self):
        data = super().clean()
        doctor, start = data.get("doctor"), data.get("start")
        if doctor and start and not data.get("end"):
            # The model needs an end to validate; the service fills it in the same way.
            data["end"] = start + doctor.appointment_length
        if self.refusal is not None:
            field = self.refusal.field if self.refusal.field in self.fields else None
            self.add_error(field, str(self.refusal))
        return data


class AppointmentActionForm(helpers.ActionForm):
    reason = forms.CharField(
        required=False, max_length=500, help_text="Required to cancel: the reason for cancelling."
    )


# How the state machine's actions read in the admin's action menu.
TRANSITION_LABELS = {"check_in": "Check in", "no_show": "No-show"}


def _transition_action(name: str):
    label = TRANSITION_LABELS.get(name, name.replace("_", " ").capitalize())

    @admin.action(description=f"{label} selected appointments", permissions=["change"])
    def run(modeladmin: "AppointmentAdmin", request, queryset):
        modeladmin.run_transition(request, queryset, name)

    run.__name__ = name
    return run


@admin.register(Appointment)
class AppointmentAdmin(AccessAuditedAdmin):
    """Saves go through appointment_set_details (the booking's overlap check under its lock);
    status changes through appointment_transition, one list action per transition."""

    form = AppointmentForm
    action_form = AppointmentActionForm
    actions = [_transition_action(name) for name in TRANSITIONS]
    audit_what = AccessLogEntry.What.APPOINTMENT
    list_display = ("start", "end", "doctor", "patient_name", "patient_mrn", "status", "reason")
    list_filter = ("status", "doctor", ("start", admin.DateFieldListFilter))
    search_fields = (
        "patient__user__first_name",
        "patient__user__last_name",
        "patient__medical_record_number",
        "reason",
    )
    list_select_related = ("doctor", "patient__user")
    autocomplete_fields = ("doctor", "patient")
    date_hierarchy = "start"
    ordering = ("-start",)
    readonly_fields = ("status", "cancellation_reason", "room_id", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("doctor", "patient", "start", "end", "reason")}),
        ("Status", {"fields": ("status", "cancellation_reason")}),
        ("Record", {"fields": ("room_id", "created_at", "updated_at")}),
    )

    @admin.display(description="Patient", ordering="patient__user__last_name")
    def patient_name(self, obj: Appointment) -> str:
        return obj.patient.full_name

    @admin.display(description="MRN", ordering="patient__medical_record_number")
    def patient_mrn(self, obj: Appointment) -> str:
        return obj.patient.medical_record_number

    def audit_subject(self, obj: Appointment):
        return obj.patient, obj

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "appointment_refusal", None)
        if refusal is None:
            return form
        return type(form.__name__, (form,), {"refusal": refusal})

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as refusal:
            # The service refused the save, and the admin's transaction rolled back with it:
            # the same form again, with the user's input and the service's message.
            request.appointment_refusal = refusal
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj: Appointment, form, change: bool) -> None:
        data = form.cleaned_data
        appointment_set_details(
            appointment=obj,
            doctor=data["doctor"],
            patient=data["patient"],
            start=data["start"],
            end=data["end"],
            reason=data["reason"],
        )

    def run_transition(self, request, queryset, name: str) -> None:
        reason = request.POST.get("reason", "")
        moved = 0
        for appointment in queryset.select_related("doctor", "patient__user"):
            try:
                moved_appointment = appointment_transition(
                    user=request.user, appointment_id=appointment.pk, action=name, reason=reason
                )
            except ApplicationError as refusal:
                self.message_user(request, f"{appointment}: {refusal}", messages.ERROR)
                continue
            self._audit(request, Action.UPDATE, moved_appointment)
            moved += 1
        if moved:
            self.message_user(
                request,
                f"{moved} appointment{'s' if moved != 1 else ''} now "
                f"{AppointmentStatus(TRANSITIONS[name].target).label.lower()}.",
                messages.SUCCESS,
            )


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records of what happened: visible to clinic staff, changed by nobody."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AccessLogKindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [("health_data", "Health data"), ("security", "Security events")]

    def queryset(self, request, queryset):
        if self.value() == "health_data":
            return queryset.health_data()
        if self.value() == "security":
            return queryset.security_events()
        return queryset


@admin.register(AccessLogEntry)
class AccessLogEntryAdmin(AccessLogExportAdmin, ReadOnlyAdmin):
    """Append-only: nobody, superusers included, adds, changes or deletes an entry here (the
    database refuses an UPDATE too, and verify_audit_log finds any change). Staff filter it and
    export what they filtered (AccessLogExportAdmin)."""

    list_display = (
        "accessed_at",
        "viewer",
        "viewer_role",
        "action",
        "what",
        "patient",
        "channel",
        "address",
        "appointment",
        "record",
    )
    list_filter = (
        AccessLogKindFilter,
        "channel",
        "what",
        "action",
        "viewer_role",
        ("viewer", admin.RelatedOnlyFieldListFilter),
        ("accessed_at", admin.DateFieldListFilter),
    )
    search_fields = (
        "patient__medical_record_number",
        "patient__user__last_name",
        "viewer__username",
        "viewer__last_name",
        "username",
        "=address",
    )
    list_select_related = ("viewer", "patient__user", "appointment__doctor")
    date_hierarchy = "accessed_at"


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class VisitNoteVersionInline(ReadOnlyInline):
    model = VisitNoteVersion
    fields = ("version", "saved_by", "saved_at", *VisitNote.SECTIONS)
    readonly_fields = fields
    ordering = ("-version",)
    verbose_name_plural = "versions (every save, newest first)"


class VisitNoteAddendumInline(ReadOnlyInline):
    model = VisitNoteAddendum
    fields = ("created_at", "author", "text", "text_hash")
    readonly_fields = fields
    ordering = ("created_at", "pk")


@admin.register(VisitNote)
class VisitNoteAdmin(AccessAuditedAdmin, ReadOnlyAdmin):
    audit_what = AccessLogEntry.What.NOTE
    list_display = ("appointment", "updated_by", "updated_at", "version", "signed")
    list_filter = (("signed_at", admin.EmptyFieldListFilter),)
    search_fields = ("appointment__patient__medical_record_number", "appointment__reason")
    list_select_related = (
        "appointment__patient__user",
        "appointment__doctor",
        "updated_by",
        "signed_by",
    )
    readonly_fields = (
        "appointment",
        *VisitNote.SECTIONS,
        "version",
        "updated_by",
        "updated_at",
        "signed",
        "signed_by",
        "signed_at",
        "signed_hash",
        "signature_intact",
    )
    inlines = [VisitNoteAddendumInline, VisitNoteVersionInline]

    @admin.display(boolean=True, description="signed", ordering="signed_at")
    def signed(self, obj: VisitNote) -> bool:
        return obj.is_signed

    @admin.display(boolean=True, description="text matches its signature")
    def signature_intact(self, obj: VisitNote) -> bool | None:
        return obj.signature_intact

    def audit_subject(self, obj: VisitNote):
        return obj.appointment.patient, obj.appointment
