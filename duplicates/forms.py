"""The join form of the report page (这就是我要反映的): who joins the case."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from grievances.forms import PHONE_RE


class JoinForm(forms.Form):
    """A resident gives the phone they follow the case with (their name if they like); a
    grid worker, the name (and phone, when there is one) of the resident before them.

    The fields are named apart from the report form's (`join_…`): the join form sits inside
    it, and only its own fields are sent (hx-params)."""

    join_name = forms.CharField(
        label=pgettext_lazy("person", "Name"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name", "data-draft": "off"}),
    )
    join_phone = forms.RegexField(
        label=pgettext_lazy("person", "Phone"),
        regex=PHONE_RE,
        max_length=20,
        required=False,
        error_messages={"invalid": _("Enter a phone number of digits, e.g. 13800001234.")},
        widget=forms.TextInput(
            attrs={"type": "tel", "inputmode": "tel", "autocomplete": "tel", "data-draft": "off"}
        ),
    )

    def __init__(self, *args, staff: bool = False, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.staff = staff
        if staff:
            self.fields["join_name"].label = _("The resident's name")
            self.fields["join_name"].required = True
            self.fields["join_phone"].label = _("The resident's phone")
            self.fields["join_phone"].help_text = _(
                "They get the case's code by text message once the centre confirms."
            )
        else:
            self.fields["join_name"].label = _("Your name (optional)")
            self.fields["join_phone"].label = _("Your phone")
            self.fields["join_phone"].required = True
            self.fields["join_phone"].help_text = _(
                "Once the centre confirms, you get the case's code by text message and follow "
                "it with the last 4 digits of this number."
            )
