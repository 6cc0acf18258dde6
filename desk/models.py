"""The desk's two libraries, each kept per county (the county's centres share it):

- CannedReply (常用语): texts staff insert into an act's textarea and then edit (a reason
  for not accepting, for returning a case, a result, a return visit's record);
- KnowledgeEntry (知识库): policy answers staff look up from a case, and with which the centre
  may answer a consultation (咨询) and close it.

Both have a category (none: for every category): a case finds the entries of its category
and of the category's ancestors.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from grids.models import Region
from grievances.models import Category


class CannedKind(models.TextChoices):
    REJECTION = "rejection", _("Not accepting a case")
    RETURN = "return", _("Returning a case")
    RESULT = "result", _("Result")
    VISIT = "visit", _("Return visit")


class LibraryEntry(models.Model):
    region = models.ForeignKey(
        Region,
        verbose_name=_("county"),
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("The county whose centres share it."),
    )
    category = models.ForeignKey(
        Category,
        verbose_name=_("category"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: for every category."),
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        abstract = True


class CannedReply(LibraryEntry):
    kind = models.CharField(_("used for"), max_length=10, choices=CannedKind.choices)
    text = models.TextField(_("text"), max_length=1000)

    class Meta:
        verbose_name = _("canned reply")
        verbose_name_plural = _("canned replies")
        ordering = ["kind", "id"]
        indexes = [models.Index(fields=["region", "kind"], name="desk_canned_region_kind")]

    def __str__(self) -> str:
        return self.text[:40]


class KnowledgeEntry(LibraryEntry):
    title = models.CharField(_("title"), max_length=200)
    question = models.TextField(_("question"), max_length=2000)
    answer = models.TextField(_("answer"), max_length=5000)
    published = models.BooleanField(
        _("published"), default=True, help_text=_("Only published answers are offered on cases.")
    )

    class Meta:
        verbose_name = _("knowledge base entry")
        verbose_name_plural = _("knowledge base")
        ordering = ["title", "id"]
        indexes = [models.Index(fields=["region", "published"], name="desk_knowledge_region")]

    def __str__(self) -> str:
        return self.title
