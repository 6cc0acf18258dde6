"""Forms of the desk's library pages: one per library, the county limited to those the user
keeps, the category to the active ones (empty: every category)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from desk import selectors
from desk.models import CannedReply, KnowledgeEntry
from grievances.forms_cases import category_choices
from grievances.models import Category


class EntryForm(forms.ModelForm):
    def __init__(self, *args, user, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        counties = selectors.kept_counties(user).order_by("tree_id", "lft")
        self.fields["region"].queryset = counties
        self.fields["region"].empty_label = None
        self.fields["category"] = forms.ChoiceField(
            label=gettext_lazy("Category"),
            required=False,
            choices=[("", gettext_lazy("Every category")), *category_choices()],
            help_text=gettext_lazy("The entry is offered for this category and those below it."),
        )
        if self.instance.category_id and not self.is_bound:
            self.initial["category"] = self.instance.category.code

    def clean_category(self):
        code = self.cleaned_data.get("category")
        if not code:
            return None
        category = Category.objects.filter(code=code, active=True).first()
        if category is None:
            raise forms.ValidationError(gettext_lazy("Choose a category from the list."))
        return category

    def _post_clean(self):
        # The category field is not the model's: set it on the instance before the model's
        # own checks.
        if "category" in getattr(self, "cleaned_data", {}):
            self.instance.category = self.cleaned_data["category"]
        super()._post_clean()


class CannedReplyForm(EntryForm):
    class Meta:
        model = CannedReply
        fields = ["region", "kind", "text"]
        widgets = {"text": forms.Textarea(attrs={"rows": 3})}


class KnowledgeEntryForm(EntryForm):
    class Meta:
        model = KnowledgeEntry
        fields = ["region", "title", "question", "answer", "published"]
        widgets = {
            "question": forms.Textarea(attrs={"rows": 2}),
            "answer": forms.Textarea(attrs={"rows": 5}),
        }
