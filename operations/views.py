"""The admin's live-connections page: list every authenticated socket, disconnect the selected ones."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from operations import selectors, services

PERMISSION = "accounts.view_device"
DISCONNECT = "disconnect"


def live_connections(request: HttpRequest) -> HttpResponse:
    """List live connections (filter `?user=`); POST action=disconnect with `_selected_action` ids."""
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    if request.method == "POST":
        if request.POST.get("action") != DISCONNECT:
            messages.error(request, "Choose the disconnect action.")
        else:
            selected = request.POST.getlist("_selected_action")
            found = services.disconnect(connection_ids=selected)
            messages.success(request, f"Disconnected {found} of {len(selected)} selected sockets.")
        return redirect(request.get_full_path())
    user = request.GET.get("user", "")[:150]
    context = {
        **admin.site.each_context(request),
        "title": "Live connections",
        "connections": selectors.live_connections(user=user),
        "user_filter": user,
        "action": DISCONNECT,
    }
    return TemplateResponse(request, "operations/live_connections.html", context)
