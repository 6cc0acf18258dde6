"""The categories page of a county's centre administrator (/desk/categories/): the categories
that apply in their county with their time limits, adding and editing the county's own, and
the county's or a township's own limits for any of them. Writes go through
desk/categories.py.

Errors: no centre-administrator role → 403; a category or limit outside what the user sees
→ 404; a category of a wider region → 403 for a change; a bad field → the form again (400)
with the message next to it.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from desk import categories as svc
from desk.forms_categories import CategoryForm, LimitForm
from grievances.models import Category, CategoryLimit
from grievances.services import CaseError, NotAllowed


def _require_admin(request) -> None:
    if not svc.can_configure(request.user):
        raise PermissionDenied(_("Only a centre administrator can configure categories."))


def _visible(request, pk: int) -> Category:
    return get_object_or_404(svc.visible_categories(request.user), pk=pk)


def _form_errors(form, exc: CaseError) -> None:
    errors = getattr(exc, "errors", None) or {exc.field or "__all__": [exc.message]}
    for field, found in errors.items():
        for message in found:
            form.add_error(field if field in form.fields else None, message)


@login_required
def category_list(request):
    _require_admin(request)
    rows = list(svc.visible_categories(request.user))
    overridden = svc.overridden_categories(request.user)
    return render(
        request,
        "desk/categories.html",
        {
            "rows": [
                {
                    "category": c,
                    "editable": svc.may_edit(request.user, c),
                    "overridden": c.pk in overridden,
                }
                for c in rows
            ]
        },
    )


@login_required
def category_new(request):
    _require_admin(request)
    initial = {}
    regions = svc.admin_regions(request.user)
    if regions:
        initial["region"] = regions[0].code
    form = CategoryForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST":
        category = _save(request, form, Category())
        if category is not None:
            messages.success(request, _("Category %(name)s added.") % {"name": category})
            return redirect("desk-category", pk=category.pk)
        return _render_form(request, form, None, status=400)
    return _render_form(request, form, None)


def _save(request, form, category: Category) -> Category | None:
    """The category as the valid form says, saved through the service; None with the form
    holding what is wrong (a refusal of the user's rights is a 403)."""
    if not form.is_valid():
        return None
    try:
        return svc.category_save(
            request.user,
            category,
            parent=form.cleaned_data["parent"],
            region=form.cleaned_data["region"],
            **form.values(),
        )
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except CaseError as exc:
        _form_errors(form, exc)
        return None


def _render_form(request, form, category, status=200):
    return render(
        request,
        "desk/category_form.html",
        {"form": form, "category": category, "region_choices": svc.region_choices(request.user)},
        status=status,
    )


@login_required
def category_detail(request, pk: int):
    _require_admin(request)
    category = _visible(request, pk)
    editable = svc.may_edit(request.user, category)
    if request.method == "POST":
        if not editable:
            raise PermissionDenied(_("This category belongs to a wider region."))
        form = CategoryForm(request.POST, user=request.user, instance=category)
        if _save(request, form, Category.objects.get(pk=category.pk)) is not None:
            messages.success(request, _("Saved. The new limits count for new dispatches."))
            return redirect("desk-category", pk=category.pk)
        return _render_detail(request, _visible(request, pk), form=form, status=400)
    return _render_detail(request, category)


def _render_detail(request, category, *, form=None, limit_form=None, status=200):
    editable = svc.may_edit(request.user, category)
    if form is None and editable:
        form = CategoryForm(user=request.user, instance=category)
    return render(
        request,
        "desk/category.html",
        {
            "category": category,
            "editable": editable,
            "form": form,
            "limits": svc.visible_limits(request.user, category),
            "limit_form": limit_form or LimitForm(user=request.user),
            "region_choices": svc.region_choices(request.user),
        },
        status=status,
    )


@login_required
@require_POST
def category_limit(request, pk: int):
    _require_admin(request)
    category = _visible(request, pk)
    form = LimitForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            svc.limit_save(request.user, category, **form.cleaned_data)
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from exc
        except CaseError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Saved. The new limits count for new dispatches."))
            return redirect("desk-category", pk=category.pk)
    return _render_detail(request, category, limit_form=form, status=400)


@login_required
@require_POST
def limit_delete(request, pk: int):
    _require_admin(request)
    limit = get_object_or_404(CategoryLimit.objects.select_related("category", "region"), pk=pk)
    category = _visible(request, limit.category_id)
    if not svc.visible_limits(request.user, category).filter(pk=limit.pk).exists():
        raise Http404
    try:
        svc.limit_delete(request.user, limit)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    messages.success(request, _("The region's own limits are removed."))
    return redirect("desk-category", pk=category.pk)
