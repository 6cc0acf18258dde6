"""The one-tap rating link: /r/<token>, from the SMS a complainant gets when the case closes.

Opening it shows the rating form for that complainant of that case, with no code to type
(score 1-5, resolved yes/no, comment: the tracking page's form); posting rates through
grievances.services.grievance_rate as that complainant. A token that is malformed, unknown
or expired answers a 404 page that says so; a case not closed, or closed more than 30 days
ago, answers with the reason. Every request counts against the client's allowance of the
"rating_link" throttle scope (grids.limits): tokens cannot be tried at speed.

The token is in the address: the page is never cached, never listed by search engines, and
sends no Referer to another site (Referrer-Policy: same-origin).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from grids import limits
from grievances import ratings, selectors, services
from grievances.forms import RateForm
from grievances.views_track import rate_form_for


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    # The token never leaves in a Referer to another site; same-origin posts keep their
    # Origin (with "no-referrer" the browser sends "null" and the CSRF check refuses it).
    response["Referrer-Policy"] = "same-origin"
    return response


@require_http_methods(["GET", "POST"])
def rate_link(request, token: str):
    if limits.over_scope_limit("rating_link", limits.client_address(request) or "unknown"):
        return _private(
            render(request, "grievances/rate_link_gone.html", {"limited": True}, status=429)
        )
    link = ratings.link_for(token)
    if link is None:
        return _private(render(request, "grievances/rate_link_gone.html", {}, status=404))
    case, person = link.grievance, link.complainant
    rate_form = None
    status, error = 200, ""
    if request.method == "POST":
        rate_form = RateForm(request.POST)
        if rate_form.is_valid():
            d = rate_form.cleaned_data
            try:
                services.grievance_rate(
                    case,
                    None,
                    complainant=person,
                    score=d["score"],
                    resolved=d["resolved"],
                    comment=d["comment"].strip(),
                    via_tracking=True,
                )
            except services.CaseError as exc:
                status, error = exc.status, exc.message
            else:
                messages.success(request, _("Thank you for rating the result."))
                return _private(redirect("rate-link", token=token))
        else:
            status = 400
    view = selectors.public_view(case, selectors.Viewer.of(person))
    refusal = services.rating_refusal(case)
    context = {
        "case": case,
        "view": view,
        "rating": view["rating"],
        "refusal": refusal,
        "error": "" if error == refusal else error,
        "rate_form": rate_form or rate_form_for(view["rating"]),
        "rate_action": request.path,
    }
    return _private(render(request, "grievances/rate_link.html", context, status=status))
