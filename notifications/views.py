"""The notifications page (the header bell): the user's own notices, and marking them read."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from grids.api_input import db_ids
from notifications.api import MAX_MARK_READ
from notifications.models import Notification
from notifications.services import mark_read


@login_required
def notifications(request):
    """The user's own notices, newest first; opening the page or one notice marks it read."""
    if request.method == "POST":
        posted = request.POST.getlist("ids")
        if len(posted) > MAX_MARK_READ:
            messages.error(request, _("Mark at most %(n)s notices at once.") % {"n": MAX_MARK_READ})
            return redirect("notifications")
        ids = db_ids(posted)
        if request.POST.get("all"):
            mark_read(request.user, everything=True)
        elif ids:
            mark_read(request.user, ids=ids)
        target = request.POST.get("next") or ""
        if target.startswith("/") and not target.startswith("//"):
            return redirect(target)
        return redirect("notifications")
    items = list(
        Notification.objects.filter(recipient=request.user)
        .select_related("grievance")
        .order_by("-created_at", "-id")[:50]
    )
    return render(request, "notifications/list.html", {"items": items})
