"""Server-rendered account pages: log in, log out."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpResponseRedirect
from django.views.decorators.http import require_POST

from accounts import services
from accounts.forms import LoginForm
from accounts.selectors import request_device


class LoginView(auth_views.LoginView):
    """The HTML login form: a session plus a device, like the JSON login."""

    template_name = "accounts/login.html"
    form_class = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        services.log_in(request=self.request, user=form.get_user(), client_id="web")
        return HttpResponseRedirect(self.get_success_url())


@require_POST
def logout_view(request):
    """Log out (POST, CSRF): revoke this session's device and end the session."""
    services.log_out(request=request, device=request_device(request))
    return HttpResponseRedirect("/accounts/login/")
