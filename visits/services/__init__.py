"""Writes under the clinic's rules. Callers import from here; one module per concept below."""

from visits.services.access_log import (
    record_access,
    record_security_event,
    request_address,
    scope_address,
)
from visits.services.appointments import (
    OVERLAP_CONSTRAINT,
    TRANSITIONS,
    appointment_book,
    appointment_create,
    appointment_reschedule,
    appointment_set_details,
    appointment_transition,
)
from visits.services.credentials import (
    SIGNED_OUT_EVENT,
    user_credentials_changed,
    user_sign_out_everywhere,
    user_sockets_group,
    user_tokens_revoke,
)
from visits.services.people import (
    CLINIC_STAFF_GROUP,
    clinic_staff_group_sync,
    doctor_create,
    doctor_set_working_hours,
    patient_create,
    patient_save_with_unique_mrn,
    user_account_check_change,
    user_create,
    user_is_privileged,
    user_may_manage_account,
    user_may_set_password,
    user_sync_role_rights,
    working_hours_validate_day,
)
from visits.services.records import visit_note_addendum_add, visit_note_save

__all__ = [
    "CLINIC_STAFF_GROUP",
    "OVERLAP_CONSTRAINT",
    "SIGNED_OUT_EVENT",
    "TRANSITIONS",
    "appointment_book",
    "appointment_create",
    "appointment_reschedule",
    "appointment_set_details",
    "appointment_transition",
    "clinic_staff_group_sync",
    "doctor_create",
    "doctor_set_working_hours",
    "patient_create",
    "patient_save_with_unique_mrn",
    "record_access",
    "record_security_event",
    "request_address",
    "scope_address",
    "user_account_check_change",
    "user_create",
    "user_credentials_changed",
    "user_is_privileged",
    "user_may_manage_account",
    "user_may_set_password",
    "user_sign_out_everywhere",
    "user_sockets_group",
    "user_sync_role_rights",
    "user_tokens_revoke",
    "visit_note_addendum_add",
    "visit_note_save",
    "working_hours_validate_day",
]
