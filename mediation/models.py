"""Mediation (矛盾纠纷多元化解): organisations, mediators, mediation cases and agreements.

A dispute goes from the case loop to a MediationCase (one per case). The parties pick
mediators from the public roster (点单式调解) or the centre assigns one by dispute type
(派单); the recusal rule (回避) keeps out mediators with a conflict of interest. Sessions
carry the record (调解笔录); the agreement (调解协议书) is versioned and signed online with a
one-time code; once every party and the mediator have signed the current version, the case
is settled and the dispute counts as handled. mediation/services.py is the only writer.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from grids.models import Region
from grievances.models import Category, Grievance


class OrgKind(models.TextChoices):
    PEOPLES = "peoples", _("People's mediation committee")
    LABOUR = "labour", _("Labour dispute mediation")
    MARRIAGE_FAMILY = "marriage_family", _("Marriage and family mediation")
    LAND_FOREST = "land_forest", _("Land and forest dispute mediation")
    MEDICAL = "medical", _("Medical dispute mediation")
    PROPERTY = "property", _("Property management mediation")
    POWER_SUPPLY = "power_supply", _("Power supply mediation")
    OTHER = "other", _("Other")


class Language(models.TextChoices):
    """Languages a mediator works in; the reports' regions are multilingual."""

    ZH = "zh", _("Chinese")
    BO = "bo", _("Tibetan")
    UG = "ug", _("Uyghur")
    MN = "mn", _("Mongolian")
    KK = "kk", _("Kazakh")
    KY = "ky", _("Kyrgyz")
    II = "ii", _("Yi")


def validate_languages(value: str) -> None:
    unknown = [code for code in split_codes(value) if code not in Language.values]
    if unknown:
        raise ValidationError(
            _("Unknown language code: %(codes)s."), params={"codes": ", ".join(unknown)}
        )


def split_codes(value: str) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class MediationOrg(models.Model):
    """A mediation committee (人民调解委员会) or a specialised mediation organisation."""

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=20, choices=OrgKind.choices)
    region = models.ForeignKey(
        Region,
        verbose_name=_("region"),
        on_delete=models.PROTECT,
        related_name="mediation_orgs",
        help_text=_("The region the organisation serves (its mediators serve it by default)."),
    )
    one_stop_centre = models.BooleanField(
        _("one-stop centre"),
        default=False,
        help_text=_("Accepts every dispute at one window (一站式矛盾纠纷调处中心)."),
    )
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("mediation organisation")
        verbose_name_plural = _("mediation organisations")
        ordering = ["region__code", "name"]

    def __str__(self) -> str:
        return self.name


def mediator_photo_path(instance, filename: str) -> str:
    # Random names: a photo's address reveals nothing and cannot be guessed.
    ext = filename.rsplit(".", 1)[-1].lower()[:5] if "." in filename else "jpg"
    return f"mediators/{secrets.token_hex(16)}.{ext}"


class Mediator(models.Model):
    """A mediator on the public roster (调解员信息公示栏).

    Their figures (cases handled, success rate, average rating) are computed from the cases
    and ratings by mediation.selectors.with_figures, never typed in.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user account"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="mediator_profiles",
    )
    name = models.CharField(_("name"), max_length=100)
    photo = models.ImageField(_("photo"), upload_to=mediator_photo_path, max_length=200, blank=True)
    organisation = models.ForeignKey(
        MediationOrg,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        related_name="mediators",
    )
    specialties = models.ManyToManyField(
        Category,
        verbose_name=_("specialties"),
        blank=True,
        related_name="+",
        limit_choices_to={"is_dispute": True},
    )
    regions_served = models.ManyToManyField(
        Region,
        verbose_name=_("regions served"),
        blank=True,
        related_name="+",
        help_text=_("Empty: the organisation's region."),
    )
    bio = models.TextField(_("introduction"), blank=True)
    years_experience = models.PositiveSmallIntegerField(_("years of experience"), default=0)
    # A comma-separated list of Language codes: an ArrayField would tie us to PostgreSQL.
    languages = models.CharField(
        _("languages"),
        max_length=60,
        default=Language.ZH,
        validators=[validate_languages],
        help_text=_("Comma-separated codes: zh, bo, ug, mn, kk, ky, ii."),
    )
    phone = models.CharField(
        _("phone"), max_length=20, blank=True, help_text=_("Not shown on the roster.")
    )
    # For recusal (回避): a mediator of the same household or work unit as a party is out.
    household = models.CharField(_("household number (户号)"), max_length=50, blank=True)
    work_unit = models.CharField(_("work unit"), max_length=120, blank=True)
    active = models.BooleanField(_("active"), default=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("mediator")
        verbose_name_plural = _("mediators")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def language_codes(self) -> list[str]:
        return split_codes(self.languages)

    @property
    def contact_phone(self) -> str:
        return self.phone or (self.user.phone if self.user_id else "")


class CaseStatus(models.TextChoices):
    CHOOSING = "choosing", _("Parties choosing a mediator")
    SCHEDULED = "scheduled", _("Mediator appointed")
    IN_SESSION = "in_session", _("In session")
    SETTLED = "settled", _("Settled")
    FAILED = "failed", _("Failed")
    WITHDRAWN = "withdrawn", _("Withdrawn")


OPEN_STATUSES = (CaseStatus.CHOOSING, CaseStatus.SCHEDULED, CaseStatus.IN_SESSION)
CONCLUDED_STATUSES = (CaseStatus.SETTLED, CaseStatus.FAILED)
WORKING_STATUSES = (CaseStatus.SCHEDULED, CaseStatus.IN_SESSION)


class ChosenBy(models.TextChoices):
    PARTIES = "parties", _("Chosen by the parties")
    CENTRE = "centre", _("Assigned by the centre")


class Referral(models.TextChoices):
    """诉调对接: where a failed mediation goes on to."""

    NONE = "", _("None")
    DEPARTMENT = "department", _("The owning department")
    COURT = "court", _("The court")


class MediationCase(ConcurrentTransitionMixin, models.Model):
    grievance = models.OneToOneField(
        Grievance,
        verbose_name=_("case"),
        on_delete=models.CASCADE,
        related_name="mediation_case",
    )
    status = FSMField(
        _("status"),
        default=CaseStatus.CHOOSING,
        choices=CaseStatus.choices,
        protected=True,
        db_index=True,
    )
    chosen_by = models.CharField(
        _("appointed"), max_length=10, choices=ChosenBy.choices, blank=True
    )
    org = models.ForeignKey(
        MediationOrg,
        verbose_name=_("organisation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cases",
        help_text=_("The lead mediator's organisation, set on appointment."),
    )
    mediators = models.ManyToManyField(
        Mediator, through="CaseMediator", related_name="cases", verbose_name=_("mediators")
    )
    choice_deadline = models.DateTimeField(_("parties choose by"), null=True, blank=True)
    outcome = models.TextField(_("outcome"), blank=True)
    referral = models.CharField(
        _("referred to"), max_length=12, choices=Referral.choices, blank=True
    )
    settled_agreement = models.ForeignKey(
        "Agreement",
        verbose_name=_("settled agreement"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The automatic assignment after the choice deadline found no mediator: the centre
    # assigns by hand; the sweep does not try again every minute.
    auto_assign_failed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    appointed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("mediation case")
        verbose_name_plural = _("mediation cases")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The sweep walks only the cases still choosing.
            models.Index(
                fields=["choice_deadline"],
                name="med_choosing_deadline",
                condition=Q(status="choosing"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.grievance.display_code} · {self.get_status_display()}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    # --- The state graph (django-fsm-2). Only mediation/services.py calls these. ----------

    @transition(field=status, source=CaseStatus.CHOOSING, target=CaseStatus.SCHEDULED)
    def appoint(self):
        pass

    @transition(field=status, source=WORKING_STATUSES, target=CaseStatus.IN_SESSION)
    def begin_session(self):
        pass

    @transition(field=status, source=WORKING_STATUSES, target=CaseStatus.SETTLED)
    def settle(self):
        pass

    @transition(field=status, source=OPEN_STATUSES, target=CaseStatus.FAILED)
    def fail(self):
        pass

    @transition(field=status, source=OPEN_STATUSES, target=CaseStatus.WITHDRAWN)
    def withdraw(self):
        pass


class MediatorRole(models.TextChoices):
    LEAD = "lead", _("Lead mediator")
    ASSISTING = "assisting", _("Assisting mediator")


class CaseMediator(models.Model):
    """A mediator appointed to a case, the lead one first."""

    case = models.ForeignKey(MediationCase, on_delete=models.CASCADE, related_name="appointments")
    mediator = models.ForeignKey(Mediator, on_delete=models.PROTECT, related_name="appointments")
    role = models.CharField(
        _("role"), max_length=10, choices=MediatorRole.choices, default=MediatorRole.LEAD
    )
    appointed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("appointed mediator")
        verbose_name_plural = _("appointed mediators")
        # "lead" sorts after "assisting": descending puts the lead mediator first.
        ordering = ["-role", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "mediator"], name="med_unique_case_mediator"),
            models.UniqueConstraint(
                fields=["case"], condition=Q(role="lead"), name="med_one_lead_per_case"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mediator} · {self.get_role_display()}"


def new_link_nonce() -> str:
    return secrets.token_hex(8)


class Party(models.Model):
    """A party to the dispute. Each has a personal link (a signed token, mediation/tokens.py)
    that lets them choose, sign and rate without an account."""

    case = models.ForeignKey(MediationCase, on_delete=models.CASCADE, related_name="parties")
    name = models.CharField(_("name"), max_length=100)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    id_number = models.CharField(_("ID number"), max_length=18, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user account"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="mediation_parties",
    )
    household = models.CharField(_("household number (户号)"), max_length=50, blank=True)
    work_unit = models.CharField(_("work unit"), max_length=120, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    # Part of the signed link: a new nonce revokes the links given out before.
    link_nonce = models.CharField(max_length=16, default=new_link_nonce)
    chose_at = models.DateTimeField(_("chose at"), null=True, blank=True)

    class Meta:
        verbose_name = _("party")
        verbose_name_plural = _("parties")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class PartyChoice(models.Model):
    """A party's pick from the roster, ranked 1 (first choice) to 3."""

    party = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="choices")
    mediator = models.ForeignKey(Mediator, on_delete=models.CASCADE, related_name="choices")
    rank = models.PositiveSmallIntegerField(
        _("rank"), validators=[MinValueValidator(1), MaxValueValidator(3)]
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("party's choice")
        verbose_name_plural = _("parties' choices")
        ordering = ["party", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["party", "mediator"], name="med_choice_once"),
            models.UniqueConstraint(fields=["party", "rank"], name="med_choice_rank_once"),
        ]

    def __str__(self) -> str:
        return f"{self.party} → {self.mediator} ({self.rank})"


class Relation(models.TextChoices):
    RELATIVE = "relative", _("Relative")
    HOUSEHOLD = "household", _("Same household")
    WORK_UNIT = "work_unit", _("Same work unit")
    BUSINESS = "business", _("Business interest")
    FRIEND = "friend", _("Close friend")
    OTHER = "other", _("Other interest")


class ConflictDeclaration(models.Model):
    """A mediator's declared conflict of interest: with a person (by account, or by name and
    phone) wherever they turn up as a party, or on one case."""

    mediator = models.ForeignKey(Mediator, on_delete=models.CASCADE, related_name="conflicts")
    person_name = models.CharField(_("person's name"), max_length=100, blank=True)
    person_phone = models.CharField(_("person's phone"), max_length=20, blank=True)
    person_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person's account"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    case = models.ForeignKey(
        MediationCase,
        verbose_name=_("case"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="conflicts",
    )
    relation = models.CharField(_("relation"), max_length=12, choices=Relation.choices)
    note = models.CharField(_("note"), max_length=255, blank=True)
    declared_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("conflict of interest")
        verbose_name_plural = _("conflicts of interest")
        ordering = ["mediator", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(case__isnull=False)
                | Q(person_user__isnull=False)
                | (~Q(person_name="") & ~Q(person_phone="")),
                name="med_conflict_names_someone",
            )
        ]

    def __str__(self) -> str:
        who = self.person_name or (str(self.person_user) if self.person_user_id else "")
        return f"{self.mediator} · {self.get_relation_display()} · {who or self.case_id}"

    def clean(self) -> None:
        if not (self.case_id or self.person_user_id or (self.person_name and self.person_phone)):
            raise ValidationError(_("Name the person (an account, or name and phone) or the case."))


class Session(models.Model):
    """A mediation session (on site or online, 云调解) and its record (调解笔录)."""

    case = models.ForeignKey(MediationCase, on_delete=models.CASCADE, related_name="sessions")
    starts_at = models.DateTimeField(_("starts at"))
    place = models.CharField(_("place"), max_length=255, blank=True)
    online = models.BooleanField(_("online"), default=False)
    online_link = models.URLField(_("online meeting link"), blank=True)
    participants = models.TextField(_("participants"), blank=True)
    record = models.TextField(_("record (笔录)"), blank=True)
    recorded_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("mediation session")
        verbose_name_plural = _("mediation sessions")
        ordering = ["starts_at", "id"]

    def __str__(self) -> str:
        return f"{self.case_id} @ {self.starts_at:%Y-%m-%d %H:%M}"


def canonical_json(version: int, text: str, terms: list[dict]) -> str:
    """The agreement's content as one canonical string: what a signature's hash covers."""
    return json.dumps(
        {"version": version, "text": text, "terms": terms},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )


def content_hash(version: int, text: str, terms: list[dict]) -> str:
    return hashlib.sha256(canonical_json(version, text, terms).encode()).hexdigest()


class Agreement(models.Model):
    """One version of the agreement (调解协议书). A new version leaves the signatures of the
    older ones behind: only signatures on the current version count."""

    case = models.ForeignKey(MediationCase, on_delete=models.CASCADE, related_name="agreements")
    version = models.PositiveIntegerField(_("version"))
    text = models.TextField(_("text"), blank=True)
    content_hash = models.CharField(_("SHA-256"), max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("agreement")
        verbose_name_plural = _("agreements")
        ordering = ["case", "version"]
        constraints = [
            models.UniqueConstraint(fields=["case", "version"], name="med_agreement_version")
        ]

    def __str__(self) -> str:
        return f"{self.case_id} v{self.version}"

    def canonical_terms(self, terms=None) -> list[dict]:
        terms = list(self.terms.all()) if terms is None else terms
        return [t.canonical() for t in sorted(terms, key=lambda t: t.position)]

    def compute_hash(self, terms=None) -> str:
        return content_hash(self.version, self.text, self.canonical_terms(terms))


class AgreementTerm(models.Model):
    """One obligation: who owes what by when (an instalment of a payment, a repair…)."""

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="terms")
    position = models.PositiveSmallIntegerField(default=0)
    obligor = models.ForeignKey(
        Party,
        verbose_name=_("obligor"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="obligations",
    )
    obligation = models.TextField(_("obligation"))
    amount = models.DecimalField(
        _("amount (yuan)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    due_date = models.DateField(_("due date"), null=True, blank=True)
    instalment = models.PositiveSmallIntegerField(_("instalment"), null=True, blank=True)
    # Set when the follow-up reminder went out (once per term: the sweep claims it).
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("agreement term")
        verbose_name_plural = _("agreement terms")
        ordering = ["agreement", "position", "id"]
        indexes = [
            models.Index(
                fields=["due_date"],
                name="med_term_due_unreminded",
                condition=Q(reminded_at__isnull=True, due_date__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return self.obligation[:60]

    def canonical(self) -> dict:
        return {
            "position": self.position,
            "obligor": self.obligor.name if self.obligor_id else "",
            "obligor_id": self.obligor_id,
            "obligation": self.obligation,
            "amount": None if self.amount is None else f"{Decimal(self.amount):.2f}",
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "instalment": self.instalment,
        }


class Signature(models.Model):
    """A party's or a mediator's signature on one version, with the hash they saw."""

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="signatures")
    party = models.ForeignKey(
        Party, on_delete=models.PROTECT, null=True, blank=True, related_name="signatures"
    )
    mediator = models.ForeignKey(
        Mediator, on_delete=models.PROTECT, null=True, blank=True, related_name="signatures"
    )
    version = models.PositiveIntegerField(_("version"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    typed_name = models.CharField(_("typed name"), max_length=100)
    signed_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    via_link = models.BooleanField(_("signed through the personal link"), default=False)

    class Meta:
        verbose_name = _("signature")
        verbose_name_plural = _("signatures")
        ordering = ["agreement", "signed_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(party__isnull=False, mediator__isnull=True)
                | Q(party__isnull=True, mediator__isnull=False),
                name="med_signature_one_signer",
            ),
            models.UniqueConstraint(
                fields=["agreement", "party"],
                condition=Q(party__isnull=False),
                name="med_signature_party_once",
            ),
            models.UniqueConstraint(
                fields=["agreement", "mediator"],
                condition=Q(mediator__isnull=False),
                name="med_signature_mediator_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.typed_name} v{self.version}"


class OneTimeCode(models.Model):
    """A code sent by SMS to a party's phone to sign: stored hashed, short-lived, few tries."""

    party = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("one-time code")
        verbose_name_plural = _("one-time codes")
        ordering = ["party", "-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.party_id} {self.created_at:%Y-%m-%d %H:%M}"


class MediatorRating(models.Model):
    """A party's rating of the mediator (评单), once per party and case."""

    case = models.ForeignKey(MediationCase, on_delete=models.CASCADE, related_name="ratings")
    party = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="ratings")
    mediator = models.ForeignKey(Mediator, on_delete=models.CASCADE, related_name="ratings")
    score = models.PositiveSmallIntegerField(
        _("score"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.TextField(_("comment"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("mediator rating")
        verbose_name_plural = _("mediator ratings")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "party"], name="med_rating_once_per_party"),
            models.CheckConstraint(
                condition=Q(score__gte=1, score__lte=5), name="med_rating_score_1_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mediator} · {self.score}"
