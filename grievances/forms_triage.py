"""The case page's triage (研判) form: the report's fields as they are now, to correct.

It sends the triage act (grievances/triage.py) only what differs from the case, so that a
field left as shown is no change; the reason is required. The place is a map point
(longitude, latitude) or a region code chosen by hand.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from grievances.forms_cases import ActForm, _textarea, category_choices
from grievances.models import Urgency

RISKS = ("risk_petition", "risk_extreme", "risk_group")


class TriageForm(ActForm):
    name = "triage"
    submit_label = gettext_lazy("Save the corrections")

    category = forms.ChoiceField(label=gettext_lazy("Category"), choices=category_choices)
    urgency = forms.ChoiceField(label=gettext_lazy("Urgency"), choices=Urgency.choices)
    risk_petition = forms.BooleanField(label=gettext_lazy("Petition risk"), required=False)
    risk_extreme = forms.BooleanField(label=gettext_lazy("Risk of extreme acts"), required=False)
    risk_group = forms.BooleanField(label=gettext_lazy("Group incident risk"), required=False)
    lng = forms.FloatField(
        label=gettext_lazy("Longitude"), min_value=-180, max_value=180, required=False
    )
    lat = forms.FloatField(
        label=gettext_lazy("Latitude"), min_value=-90, max_value=90, required=False
    )
    region = forms.CharField(
        label=gettext_lazy("Or a region chosen by hand (code)"),
        max_length=20,
        required=False,
        help_text=gettext_lazy("The case moves to the centre of the new place."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    description = forms.CharField(
        label=gettext_lazy("Description"), max_length=5000, widget=_textarea(4)
    )
    reason = forms.CharField(
        label=gettext_lazy("Why it is corrected"), max_length=5000, widget=_textarea(2)
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        case = self.case
        if not self.is_bound:
            self.initial.update(
                category=case.category.code,
                urgency=case.urgency,
                lng=case.lng,
                lat=case.lat,
                title=case.title,
                description=case.description,
                **{name: getattr(case, name) for name in RISKS},
            )

    def api_data(self) -> dict:
        data, case = dict(self.cleaned_data), self.case
        # Browsers send a textarea's lines with CRLF: the same text is no change.
        data["description"] = data["description"].replace("\r\n", "\n")
        out = {"reason": data["reason"]}
        if data["category"] != case.category.code:
            out["category"] = data["category"]
        for name in ("urgency", "title", "description", *RISKS):
            if data[name] != getattr(case, name):
                out[name] = data[name]
        if data.get("region"):
            out["region"] = data["region"]
        elif (data.get("lng"), data.get("lat")) != (case.lng, case.lat):
            out["lng"], out["lat"] = data.get("lng"), data.get("lat")
            out = {k: v for k, v in out.items() if v is not None or k not in ("lng", "lat")}
        return out
