"""The clinic's admin site: Django's, entered only through the portal's two-step sign-in.

Installed as the admin app's default site (ClinicAdminConfig in INSTALLED_APPS), so every
`@admin.register` lands here. This module is loaded with the app registry, before models:
it imports them only inside methods.
"""

from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.sites import AdminSite
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.urls import reverse


class ClinicAdminSite(AdminSite):
    def has_permission(self, request) -> bool:
        """Staff whose session passed the second factor their account has or their role
        requires (MFA_REQUIRED_ROLES): a password alone never opens the admin for them."""
        from visits.selectors import MfaSessionState, mfa_session_state

        return (
            super().has_permission(request)
            and mfa_session_state(request.user, verified=request.user.is_verified())
            == MfaSessionState.COMPLETE
        )

    def login(self, request, extra_context=None):
        """The portal's sign-in (password, then the code), with the admin's form, which turns
        away accounts that are not staff; afterwards to the admin, unless `next` says where."""
        from django.contrib.admin.forms import AdminAuthenticationForm
        from django.http import HttpResponseRedirect

        from visits.views.login import SignInView

        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        index = reverse("admin:index", current_app=self.name)
        context = dict(extra_context or {})
        if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
            context[REDIRECT_FIELD_NAME] = index
        request.current_app = self.name
        view = SignInView.as_view(
            authentication_form=AdminAuthenticationForm, extra_context=context, next_page=index
        )
        return view(request)


class ClinicAdminConfig(AdminConfig):
    default_site = "visits.admin_site.ClinicAdminSite"
