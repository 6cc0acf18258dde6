"""The category API (/api/v1/categories/): the tree for everyone to read; additions (POST)
and changes (PATCH) for a county's centre administrator within their subtree, and for the
superuser. Writes go through desk/categories.py: a category outside what the caller sees
is 404, one of a wider region 403, a bad field 400 naming it."""

from __future__ import annotations

from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

from desk import categories as svc
from grids.models import Region
from grievances.models import Category
from grievances.services import CaseError, NotAllowed


class CategorySerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Category.objects.all(),
        allow_null=True,
        required=False,
        help_text="The parent category's code.",
    )
    region = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Region.objects.all(),
        allow_null=True,
        required=False,
        help_text="The code of the region whose subtree the category is limited to; null for "
        "everywhere. Required of a centre administrator.",
    )

    class Meta:
        model = Category
        fields = ["parent", "region", *svc.CATEGORY_FIELDS]
        extra_kwargs = {
            name: {"max_value": 10_000}
            for name in svc.CATEGORY_FIELDS
            if name.startswith(("report_in_", "handle_"))
        }


class ReadOrConfigure(BasePermission):
    """Everyone reads; centre administrators and the superuser write."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return bool(request.user.is_authenticated and svc.can_configure(request.user))


class CategoryViewSet(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Case categories, a small tree under the three kinds, with their time limits by
    urgency. A change of limits counts for dispatches made after it."""

    permission_classes = [ReadOrConfigure]
    serializer_class = CategorySerializer
    pagination_class = None
    lookup_field = "code"
    lookup_value_regex = r"[^/]+"  # codes hold dots (dispute.wages)
    filterset_fields = ["kind", "is_dispute"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if self.request.method in SAFE_METHODS:
            return (
                Category.objects.filter(active=True)
                .select_related("parent", "region")
                .order_by("tree_id", "lft")
            )
        return svc.visible_categories(self.request.user)

    def perform_create(self, serializer) -> None:
        serializer.instance = self._save(Category(), serializer.validated_data)

    def perform_update(self, serializer) -> None:
        category = serializer.instance
        data = {name: getattr(category, name) for name in svc.CATEGORY_FIELDS}
        data |= {"parent": category.parent, "region": category.region}
        data |= serializer.validated_data
        serializer.instance = self._save(Category.objects.get(pk=category.pk), data)

    def _save(self, category: Category, data: dict) -> Category:
        data = dict(data)
        try:
            return svc.category_save(
                self.request.user,
                category,
                parent=data.pop("parent", None),
                region=data.pop("region", None),
                **data,
            )
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from exc
        except svc.Invalid as exc:
            raise ValidationError(exc.errors) from exc
        except CaseError as exc:
            raise ValidationError({exc.field or "non_field_errors": [exc.message]}) from exc

    def update(self, request, *args, **kwargs) -> Response:
        kwargs["partial"] = True
        return super().update(request, *args, **kwargs)
