"""The site's URLs. With clinic/asgi.py this is the composition root: the one place in clinic
that includes the apps' (visits, rooms) routes; the rest of clinic imports neither."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from clinic.health import healthz
from visits.views import login, mfa

admin.site.site_header = "Clinic Meet administration"
admin.site.site_title = "Clinic Meet admin"
admin.site.index_title = "Clinic"

urlpatterns = [
    path("", include("visits.urls")),
    # Before visits' API: its fallback 404 answers anything under /api/appointments/ it lacks
    # (and the transcripts' before the recordings', whose fallback takes /api/recordings/...).
    path("api/", include(("rooms.transcripts.urls", "transcripts-api"))),
    path("api/", include(("rooms.recordings.urls", "recordings-api"))),
    path("api/", include(("visits.apis.urls", "api"))),
    path("api/rooms/", include(("rooms.calls.urls", "rooms-api"))),
    path("visits/", include("rooms.urls")),
    path("visits/", include("rooms.recordings.portal_urls")),
    path("visits/", include("rooms.transcripts.portal_urls")),
    path("accounts/login/", login.SignInView.as_view(), name="login"),
    path("accounts/login/code/", login.sign_in_code, name="login-code"),
    path("accounts/two-step/", mfa.overview, name="mfa"),
    path("accounts/two-step/set-up/", mfa.enrol, name="mfa-enrol"),
    path("accounts/two-step/recovery-codes/", mfa.recovery_codes_renew, name="mfa-recovery-codes"),
    path("accounts/two-step/turn-off/", mfa.turn_off, name="mfa-turn-off"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
