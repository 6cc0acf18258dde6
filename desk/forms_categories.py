"""The forms of the categories page: a category and a region's own time limits. Regions are
typed as their codes (a province holds thousands of townships); the page offers the
administered region and its townships as suggestions."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from desk.categories import CATEGORY_FIELDS, region_by_code, visible_categories
from grids.scoping import sees_everything
from grievances.models import Category, Urgency
from grievances.services import InvalidInput

REGION_HELP = _("The region's code (12 digits), e.g. your county's.")


class RegionCodeField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 15)
        kwargs.setdefault("help_text", REGION_HELP)
        super().__init__(**kwargs)
        self.widget.attrs.update({"list": "region-codes", "inputmode": "numeric"})


def _region(form: forms.Form, field: str):
    try:
        return region_by_code(form.user, form.cleaned_data.get(field, ""), field=field)
    except InvalidInput as exc:
        raise forms.ValidationError(exc.message) from exc


class CategoryForm(forms.ModelForm):
    """A category's fields; the model's clean() checks the code, kind and region against
    the parent, desk.categories.category_save the administrator's scope."""

    region = RegionCodeField(label=_("region"), required=False)

    class Meta:
        model = Category
        fields = ["parent", *CATEGORY_FIELDS[:4], "region", *CATEGORY_FIELDS[4:]]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["parent"].queryset = visible_categories(user)
        self.fields["parent"].required = False
        instance = kwargs.get("instance")
        if instance is not None and instance.region_id:
            self.initial["region"] = instance.region.code

    def clean_region(self):
        region = _region(self, "region")
        if region is None and not sees_everything(self.user):
            raise forms.ValidationError(_("Choose the region the category belongs to."))
        return region

    def values(self) -> dict:
        return {name: self.cleaned_data[name] for name in CATEGORY_FIELDS}


class LimitForm(forms.Form):
    """A region's own limits for the category at one urgency."""

    region = RegionCodeField(label=_("region"))
    urgency = forms.ChoiceField(label=_("urgency"), choices=Urgency.choices)
    report_in = forms.IntegerField(
        label=_("report-in limit"),
        min_value=1,
        max_value=10_000,
        help_text=_("Most urgent: calendar minutes; otherwise working hours."),
    )
    handling = forms.IntegerField(
        label=_("handling limit"),
        min_value=1,
        max_value=10_000,
        help_text=_("Most urgent: calendar hours; otherwise working days."),
    )

    def __init__(self, *args, user, **kwargs):
        # Ids of its own: the category's form on the same page has a region field, too.
        kwargs.setdefault("auto_id", "limit_%s")
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_region(self):
        region = _region(self, "region")
        if region is None:
            raise forms.ValidationError(_("This field is required."))
        return region
