"""Server-rendered account pages: log in, log out, devices, password change."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.forms import LoginForm
from accounts.models import Device
from accounts.selectors import request_device


class LoginView(auth_views.LoginView):
    """The HTML login form: a session plus a device, like the JSON login."""

    template_name = "accounts/login.html"
    form_class = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        services.log_in_session(request=self.request, user=form.get_user(), client_id="web")
        return HttpResponseRedirect(self.get_success_url())


@require_POST
def logout_view(request):
    """Log out (POST, CSRF): revoke this session's device and end the session."""
    services.log_out(request=request, device=request_device(request))
    return HttpResponseRedirect("/accounts/login/")


@login_required
def devices_view(request):
    """List the user's devices, newest first, with a revoke button for each live one."""
    device = request_device(request)
    return render(
        request,
        "accounts/devices.html",
        {"devices": selectors.user_devices(user=request.user), "current_device_id": device.pk if device else None},
    )


@login_required
@require_POST
def revoke_device_view(request, device_id: int):
    """Revoke one of the user's own devices; revoking this one logs the user out."""
    device = selectors.user_device(user=request.user, device_id=device_id)
    if device is None:
        raise Http404("No such device.")
    services.revoke_device(device=device, reason=Device.RevokeReason.USER, by=request.user)
    current = request_device(request)
    if current is not None and current.pk == device.pk:
        return redirect("accounts:login")  # the middleware ends this session on its next request
    messages.success(request, "The device was revoked.")
    return redirect("accounts:devices")


@login_required
def password_change_view(request):
    """Change the password; every other device is logged out, this one stays."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        count = services.change_password(
            user=request.user, new_password=form.cleaned_data["new_password1"], current_device=request.dedwen_device
        )
        update_session_auth_hash(request, request.user)
        messages.success(request, f"Your password was changed; {count} other device(s) were logged out.")
        return redirect("accounts:devices")
    return render(request, "accounts/password_change.html", {"form": form})
