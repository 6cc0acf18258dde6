"""Forms of the intake, tracking and rating pages (grievances/views_intake.py, views_track.py,
views_rating.py).

They validate what a person typed and hand it to grievances.services; they never write a
case themselves. Field errors carry messages a resident can act on.
"""

from __future__ import annotations

import uuid

from django import forms
from django.conf import settings
from django.db.models import Q
from django.utils.functional import lazy
from django.utils.translation import get_language, gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from grids.locate import locate
from grids.models import Level, Region
from grids.scoping import visible_regions
from grievances import attachments, idempotency
from grievances.models import (
    CODE_LENGTH,
    EXTERNAL_SOURCES,
    Category,
    RequestType,
    Source,
    Urgency,
    normalize_tracking_code,
)
from grievances.services import CaseError

PHONE_RE = r"^\+?[0-9][0-9\- ]{4,19}$"
ID_NUMBER_RE = r"^[0-9]{17}[0-9Xx]$"
# Up to this many grids the grid is a plain select; a wider scope searches by name.
GRID_SELECT_MAX = 60
PLACE_MATCHES_MAX = 10
# The desk's channels (登记): in person, at the village desk, at a tea meeting, and the cases
# other systems transfer (those carry their ticket number) or a video patrol finds.
STAFF_SOURCES = [
    Source.WALK_IN,
    Source.PETITION_VISIT,
    Source.HOTLINE,
    Source.TEA_MEETING,
    Source.HOTLINE_12345,
    Source.MAYOR_MAILBOX,
    Source.PETITION_TRANSFER,
    Source.VIDEO_PATROL,
]


def category_label(category: Category) -> str:
    """The category's name in the active language."""
    if (get_language() or "").startswith("en") and category.name_en:
        return category.name_en
    return category.name


def region_label(region: Region, path: list[Region] | None = None) -> str:
    names = [r.name for r in (path or [])] + [region.name]
    return " › ".join(names)


class IntakeForm(forms.Form):
    """No colon after labels: each label stands on its own line above its field."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class CategorySelect(forms.Select):
    """A select whose options carry both names, so the filter box finds either."""

    def __init__(self, *args, search: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.search = search or {}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if value in self.search:
            option["attrs"]["data-search"] = self.search[value]
        return option


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Several photos from one input (Django's documented pattern)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "widget",
            MultipleFileInput(attrs={"accept": "image/*", "capture": "environment"}),
        )
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        one = super().clean
        if isinstance(data, list | tuple):
            return [one(item, initial) for item in data if item]
        return [one(data, initial)] if data else []


def _phone_field(**kwargs) -> forms.RegexField:
    return forms.RegexField(
        regex=PHONE_RE,
        max_length=20,
        required=False,
        error_messages={"invalid": _("Enter a phone number of digits, e.g. 13800001234.")},
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "tel"}),
        **kwargs,
    )


class ComplainantForm(IntakeForm):
    """One person who brings the matter (the first is the reporter, who tracks it)."""

    # With a context: a bare "Name" is translated by other apps' catalogues (task name…).
    name = forms.CharField(label=pgettext_lazy("person", "Name"), max_length=100, required=False)
    phone = _phone_field(label=pgettext_lazy("person", "Phone"))
    id_number = forms.RegexField(
        label=_("ID number (optional)"),
        regex=ID_NUMBER_RE,
        required=False,
        error_messages={
            "invalid": _("An ID number has 18 characters: 17 digits and a digit or X.")
        },
        # Kept out of the saved draft on the phone (see report.js): personal data.
        widget=forms.TextInput(attrs={"autocomplete": "off", "data-draft": "off"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("id_number") and not data.get("name"):
            self.add_error("name", _("Give the name that goes with the ID number."))
        return data


class BaseComplainantFormSet(forms.BaseFormSet):
    def people(self) -> list[dict]:
        """The filled rows, in order."""
        return [
            f.cleaned_data
            for f in self.forms
            if f.cleaned_data and any(f.cleaned_data.get(k) for k in ("name", "phone", "id_number"))
        ]


# The same cap as the API's (MAX_COMPLAINANTS): a group case (群体) of a few dozen fits.
# absolute_max at the cap too: a post claiming thousands of rows builds no more forms.
ComplainantFormSet = forms.formset_factory(
    ComplainantForm,
    formset=BaseComplainantFormSet,
    extra=1,
    max_num=settings.MAX_COMPLAINANTS,
    absolute_max=settings.MAX_COMPLAINANTS,
    validate_max=True,
)


class ReportForm(IntakeForm):
    """A report from a phone: what, where, who, photos.

    `staff` is True for grid workers and centre staff (risk flags, complainants, a grid of
    their own, settled on the spot for grid roles); otherwise the resident's simpler form.
    """

    category = forms.ChoiceField(label=_("Category"))
    title = forms.CharField(
        label=_("Title"),
        max_length=200,
        help_text=_("In a few words, e.g. “Water pipe leaking in the stairwell”."),
    )
    description = forms.CharField(
        label=_("Describe it"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Where exactly, since when, who is affected."),
    )
    urgency = forms.ChoiceField(
        label=_("Urgency"),
        required=False,
        choices=[("", _("Usual for the category")), *Urgency.choices],
    )
    request_type = forms.ChoiceField(
        label=_("What you ask for"),
        required=False,
        choices=RequestType.choices,
        initial=RequestType.COMPLAINT,
    )
    lng = forms.FloatField(required=False, min_value=-180, max_value=180, widget=forms.HiddenInput)
    lat = forms.FloatField(required=False, min_value=-90, max_value=90, widget=forms.HiddenInput)
    address = forms.CharField(
        label=_("Address or landmark (optional)"),
        max_length=255,
        required=False,
        help_text=_("Building, unit, road or landmark, to find the spot."),
    )
    photos = PhotosField(
        label=_("Photos (optional)"),
        required=False,
        # Formatted when shown, in the language of the request.
        help_text=lazy(
            lambda: (
                gettext("Take photos with the camera or choose them; up to %(n)s.")
                % {"n": attachments.MAX_PER_CASE}
            ),
            str,
        )(),
    )
    # The report's idempotency key (grievances.idempotency): a UUID the page makes and keeps
    # with the draft (static/js/report.js), so that sending it again makes no second case.
    idempotency_key = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, user=None, staff: bool = False, grid_role: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.staff = staff
        self.grid_role = grid_role
        self.place_matches: list[tuple[Region, str]] = []
        self._categories = {
            c.code: c
            for c in Category.objects.filter(active=True)
            .select_related("parent")
            .order_by("tree_id", "lft")
        }
        self.fields["category"].choices = self._category_choices()
        self.fields["category"].widget = CategorySelect(
            choices=self.fields["category"].choices,
            search={
                code: " ".join(filter(None, [c.name, c.name_en, code])).lower()
                for code, c in self._categories.items()
            },
        )
        if staff:
            self._add_staff_fields()
        else:
            self._add_resident_fields()
            # A resident's urgency is a suggestion: the centre sets the one deadlines follow.
            self.fields["urgency"].help_text = _(
                "Your suggestion: the governance centre decides how urgent it is."
            )

    # --- building ----------------------------------------------------------------------

    def _category_choices(self) -> list:
        """Grouped under their top categories (矛盾纠纷, 困难诉求, 问题隐患)."""
        groups: dict[str, list] = {}
        tops: dict[str, Category] = {}
        for code, c in self._categories.items():
            top = c if c.parent_id is None else c.parent
            tops.setdefault(top.code, top)
            groups.setdefault(top.code, [])
            if c.parent_id is None:
                continue
            groups[top.code].append((code, category_label(c)))
        choices: list = [("", _("Choose a category"))]
        for top_code, options in groups.items():
            top = tops[top_code]
            label = category_label(top)
            if top_code in self._categories:
                # The top category itself, for a matter none of its children fits.
                options = [*options, (top_code, _("Other: %(name)s") % {"name": label})]
            choices.append((label, options))
        return choices

    def _add_staff_fields(self) -> None:
        self.fields["risk_petition"] = forms.BooleanField(
            label=_("Petition risk (涉访)"), required=False
        )
        self.fields["risk_extreme"] = forms.BooleanField(
            label=_("Risk of extreme acts (极端)"), required=False
        )
        self.fields["risk_group"] = forms.BooleanField(
            label=_("Group incident risk (群体)"), required=False
        )
        grids = (
            visible_regions(
                self.user, Region.objects.filter(level__in=staff_place_levels(self.grid_role))
            )
            .select_related("parent")
            .order_by("tree_id", "lft")
        )
        self.grid_queryset = grids
        self.fields["grid"] = forms.ModelChoiceField(
            # Grid workers pick one of their grids; a centre's desk may also enter a case
            # of a village, a township or the county itself (a walk-in at the county).
            label=_("Or choose the grid") if self.grid_role else _("Or choose the place"),
            queryset=grids,
            to_field_name="code",
            required=False,
            empty_label=_("Use the map point"),
            error_messages={
                "invalid_choice": _("Choose one of your own grids.")
                if self.grid_role
                else _("Choose a place of your own area.")
            },
        )
        self.grid_count = grids.count()
        self.grid_search = self.grid_count > GRID_SELECT_MAX
        if self.grid_search:
            self.fields["grid"].widget = forms.HiddenInput()
            self.fields["place"] = forms.CharField(
                label=_("Search your grids")
                if self.grid_role
                else _("Search your area: grid, village, township or county"),
                max_length=100,
                required=False,
            )
        else:
            self.fields["grid"].label_from_instance = lambda r: region_label(
                r, [r.parent] if r.parent_id else []
            )
        if self.grid_role:
            self.fields["settled"] = forms.BooleanField(
                label=_("Settled on the spot"),
                required=False,
                help_text=_("The matter is already resolved: the case is entered as handled."),
            )
            self.fields["settled_note"] = forms.CharField(
                label=_("How it was settled"),
                max_length=5000,
                required=False,
                widget=forms.Textarea(attrs={"rows": 3}),
            )
        else:
            self.fields["source"] = forms.ChoiceField(
                label=_("How the report came in"),
                choices=[(s.value, s.label) for s in STAFF_SOURCES],
                initial=Source.WALK_IN,
            )
            self._add_ticket_field()

    def _add_ticket_field(self) -> None:
        """Another system's ticket number, for the sources that carry one (report.js shows
        the field with them only)."""
        self.fields["external_id"] = forms.RegexField(
            label=_("Ticket number in the other system"),
            regex=r"^[^\s\x00-\x1f\x7f]+$",
            max_length=64,
            required=False,
            help_text=_(
                "For a case transferred from 12345, the mayor's mailbox or the petition "
                "office: its number there."
            ),
            error_messages={"invalid": _("A ticket number has no spaces.")},
            widget=forms.TextInput(
                attrs={
                    "autocomplete": "off",
                    "data-ticket-sources": " ".join(EXTERNAL_SOURCES),
                }
            ),
        )

    def _add_resident_fields(self) -> None:
        self.fields["region"] = forms.ModelChoiceField(
            label=_("Village or community"),
            queryset=Region.objects.filter(level=Level.VILLAGE),
            to_field_name="code",
            required=False,
            widget=forms.HiddenInput,
            error_messages={"invalid_choice": _("Choose a village or community from the list.")},
        )
        self.fields["place"] = forms.CharField(
            label=_("Or search your village or community"),
            max_length=100,
            required=False,
            help_text=_("When you cannot share your location: type part of the name."),
        )
        self.fields["name"] = forms.CharField(
            label=_("Your name (optional)"),
            max_length=100,
            required=False,
            widget=forms.TextInput(attrs={"autocomplete": "name"}),
        )
        self.fields["phone"] = _phone_field(
            label=_("Your phone (optional)"),
            help_text=_(
                "Needed to follow your case online: you look it up with its code and the "
                "last 4 digits of this number, and we send you the code by text message. "
                "Without it you can still report anonymously, but you cannot track the case."
            ),
        )

    # --- cleaning ----------------------------------------------------------------------

    def clean_category(self) -> Category:
        code = self.cleaned_data.get("category")
        category = self._categories.get(code)
        if category is None:
            raise forms.ValidationError(_("Choose a category."))
        return category

    def clean_photos(self):
        photos = self.cleaned_data.get("photos") or []
        if len(photos) > attachments.MAX_PER_CASE:
            raise forms.ValidationError(
                _("At most %(n)s photos per report.") % {"n": attachments.MAX_PER_CASE}
            )
        # Checking is the full decode and re-encode, remembered on each upload: the save
        # after a valid form does not do it again.
        problems = []
        for photo in photos:
            try:
                attachments.check_image(photo)
            except attachments.UploadError as exc:
                problems.append(str(exc))
        if problems:
            raise forms.ValidationError(problems)
        return photos

    def clean(self):
        data = super().clean()
        try:
            data["idempotency_key"] = idempotency.parse(data.get("idempotency_key"))
        except CaseError:
            data["idempotency_key"] = None
            self.add_error(None, _("This form was damaged on the way. Please send it again."))
            self.new_key()
        lng, lat = data.get("lng"), data.get("lat")
        if (lng is None) != (lat is None):
            self.add_error("lng", _("The map point is incomplete: place the pin again."))
            return data
        has_point = lng is not None
        if self.staff:
            self._clean_ticket(data)
            self._clean_staff_location(data, has_point)
            if data.get("settled") and not (data.get("settled_note") or "").strip():
                self.add_error("settled_note", _("Say how it was settled on the spot."))
        else:
            self._clean_resident_location(data, has_point)
        return data

    def _clean_ticket(self, data) -> None:
        """The ticket goes with the system of its source (EXTERNAL_SOURCES)."""
        ticket = data.pop("external_id", "")
        if not ticket:
            return
        system = EXTERNAL_SOURCES.get(data.get("source") or "")
        if system is None:
            self.add_error(
                "external_id",
                _(
                    "A ticket number goes with a case transferred from 12345, the mayor's "
                    "mailbox or the petition office: choose that source."
                ),
            )
            return
        data["external_id"], data["external_system"] = ticket, system

    def new_key(self) -> None:
        """Show the form again with a fresh key: what it sends next is a report of its own."""
        self.data = self.data.copy()
        self.data[self.add_prefix("idempotency_key")] = str(uuid.uuid4())

    def _clean_staff_location(self, data, has_point: bool) -> None:
        grid = data.get("grid")
        if "grid" in self.errors:
            return
        if grid is None and not has_point:
            self.add_error("lng", _("Put the pin on the map (use my location) or choose the grid."))
            return
        if grid is not None and has_point:
            hit = locate(data["lng"], data["lat"])
            if grid.level != Level.GRID:
                inside = hit is None or hit.ancestor_id(grid.level) == grid.pk
                if not inside:
                    self.add_error(
                        "grid",
                        _(
                            "The map point lies in %(located)s, outside %(place)s: move the "
                            "pin or choose another place."
                        )
                        % {"located": hit.name, "place": grid.name},
                    )
                return
            if hit is not None and hit.id != grid.pk:
                self.add_error(
                    "grid",
                    _(
                        "The map point lies in %(located)s, not in the grid you chose: "
                        "move the pin or choose that grid."
                    )
                    % {"located": hit.name},
                )

    def _clean_resident_location(self, data, has_point: bool) -> None:
        if has_point or data.get("region") is not None or "region" in self.errors:
            return
        text = (data.get("place") or "").strip()
        if not text:
            self.add_error(
                "lng",
                _("Share your location on the map, or search your village or community."),
            )
            return
        matches = search_places(text)
        if len(matches) == 1:
            data["region"] = matches[0][0]
            return
        self.place_matches = matches
        if matches:
            self.add_error("region", _("Several places match: choose yours below."))
        else:
            self.add_error(
                "place", _("No village or community matches “%(text)s”.") % {"text": text}
            )

    # --- what the view hands to the services -----------------------------------------

    def people(self, formset: BaseComplainantFormSet | None) -> list[dict]:
        if self.staff:
            return formset.people() if formset is not None else []
        name = (self.cleaned_data.get("name") or "").strip()
        phone = (self.cleaned_data.get("phone") or "").strip()
        return [{"name": name, "phone": phone, "id_number": ""}] if name or phone else []


def staff_place_levels(grid_role: bool) -> list[str]:
    """What staff may choose as a case's place: grid workers their grids; a centre's desk
    any region of its area from the county down."""
    if grid_role:
        return [Level.GRID]
    return [Level.COUNTY, Level.TOWNSHIP, Level.VILLAGE, Level.GRID]


def search_places(text: str, user=None, grid_role: bool = True) -> list[tuple[Region, str]]:
    """Villages and communities whose name (or code) matches, with their path, for residents;
    with `user`, the places they may choose (staff_place_levels)."""
    text = text.strip()
    if not text:
        return []
    if user is None:
        qs = Region.objects.filter(level=Level.VILLAGE)
    else:
        qs = visible_regions(user, Region.objects.filter(level__in=staff_place_levels(grid_role)))
    qs = (
        qs.filter(Q(name__icontains=text) | Q(code__startswith=text))
        .select_related("parent__parent")
        .order_by("tree_id", "lft")[: PLACE_MATCHES_MAX + 1]
    )
    rows = []
    for region in qs[:PLACE_MATCHES_MAX]:
        path = []
        if region.parent_id:
            parent = region.parent
            if parent.parent_id:
                path.append(parent.parent)
            path.append(parent)
        rows.append((region, region_label(region, path)))
    return rows


class TrackForm(IntakeForm):
    code = forms.CharField(
        label=_("Case code"),
        max_length=20,
        help_text=_("8 letters and digits, e.g. 7KQ4-M2XP."),
        widget=forms.TextInput(
            attrs={
                "autocapitalize": "characters",
                "autocomplete": "off",
                "spellcheck": "false",
                "class": "mono",
            }
        ),
    )
    last4 = forms.RegexField(
        label=_("Last 4 digits of your phone"),
        regex=r"^[0-9]{4}$",
        help_text=_("Of the phone number you gave with the report."),
        error_messages={"invalid": _("Give the last 4 digits of your phone.")},
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "off", "maxlength": "4"}
        ),
    )

    def clean_code(self) -> str:
        code = normalize_tracking_code(self.cleaned_data["code"])
        if len(code) != CODE_LENGTH:
            raise forms.ValidationError(_("A case code has 8 letters and digits."))
        return code


class RateForm(IntakeForm):
    score = forms.TypedChoiceField(
        label=_("How satisfied are you?"),
        coerce=int,
        choices=[(n, n) for n in range(5, 0, -1)],
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose from 1 to 5 stars.")},
    )
    resolved = forms.TypedChoiceField(
        label=_("Is the matter resolved?"),
        coerce=lambda v: v == "yes",
        choices=[("yes", _("Yes")), ("no", _("No"))],
        widget=forms.RadioSelect,
        error_messages={"required": _("Say whether the matter is resolved.")},
    )
    comment = forms.CharField(
        label=_("Comment (optional)"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class TrackNoteForm(IntakeForm):
    note = forms.CharField(
        label=_("Note (optional)"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
