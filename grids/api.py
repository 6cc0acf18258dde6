"""Public geography API: regions, their ancestors and children, and locate; API tokens."""

from __future__ import annotations

from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.settings import api_settings

from grids import lockout
from grids.locate import locate
from grids.models import Level, Region, RegionBoundary
from grids.scoping import role_regions, subtree_q
from grids.views import GRID_ROLES

# The most grids /regions/mine/ returns: a grid leader's village has a handful, a township's
# grid police a few dozen; boundaries are unsimplified, so the answer stays bounded.
MINE_MAX = 60


class RegionRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Region
        fields = ["code", "name", "level"]


class RegionSerializer(serializers.ModelSerializer):
    parent = serializers.CharField(
        source="parent.code", default=None, read_only=True, allow_null=True
    )
    bbox = serializers.SerializerMethodField()
    centroid = serializers.SerializerMethodField()

    class Meta:
        model = Region
        fields = ["code", "name", "level", "kind", "parent", "bbox", "centroid"]

    def get_bbox(self, obj) -> list[float] | None:
        if obj.min_lng is None:
            return None
        return [obj.min_lng, obj.min_lat, obj.max_lng, obj.max_lat]

    def get_centroid(self, obj) -> list[float] | None:
        if obj.centroid_lng is None:
            return None
        return [obj.centroid_lng, obj.centroid_lat]


class RegionDetailSerializer(RegionSerializer):
    ancestors = serializers.SerializerMethodField()
    children_count = serializers.SerializerMethodField()
    descendants_count = serializers.SerializerMethodField()
    boundary = serializers.SerializerMethodField()

    class Meta(RegionSerializer.Meta):
        fields = [
            *RegionSerializer.Meta.fields,
            "ancestors",
            "children_count",
            "descendants_count",
            "boundary",
        ]

    def get_ancestors(self, obj) -> list[dict]:
        return RegionRefSerializer(obj.get_ancestors(), many=True).data

    def get_children_count(self, obj) -> int:
        return obj.children.count()

    def get_descendants_count(self, obj) -> dict[str, int]:
        rows = obj.get_descendants().values("level").annotate(n=Count("id")).order_by("level")
        return {row["level"]: row["n"] for row in rows}

    def get_boundary(self, obj) -> dict | None:
        # Boundaries can be large: only on request (?geometry=1).
        request = self.context.get("request")
        if not request or request.query_params.get("geometry") not in ("1", "true"):
            return None
        boundary = RegionBoundary.objects.filter(region=obj).first()
        return boundary.geometry if boundary else None


class RegionFilter(filters.FilterSet):
    level = filters.ChoiceFilter(choices=Level.choices)
    parent = filters.CharFilter(field_name="parent__code", label=_("parent code"))
    q = filters.CharFilter(method="search", label=_("name or code contains"))

    class Meta:
        model = Region
        fields = ["level", "parent", "kind"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(code__startswith=value))


class LocateQuerySerializer(serializers.Serializer):
    lng = serializers.FloatField(min_value=-180, max_value=180)
    lat = serializers.FloatField(min_value=-90, max_value=90)

    def validate(self, attrs):
        import math

        for key in ("lng", "lat"):
            if not math.isfinite(attrs[key]):
                raise serializers.ValidationError({key: [_("A finite number is required.")]})
        return attrs


class LocateResultSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    level = serializers.CharField()
    path = RegionRefSerializer(many=True)


class MyGridsSerializer(serializers.Serializer):
    """A GeoJSON FeatureCollection: one Feature per grid, its boundary as the geometry."""

    type = serializers.CharField()
    features = serializers.ListField(child=serializers.DictField())
    truncated = serializers.BooleanField()


def my_grids(user) -> dict:
    """The grids the user works in as a grid worker, grid police or grid leader (the grids
    of the subtrees of those memberships), with their boundaries, as GeoJSON. Two queries:
    the memberships and the grids with their boundaries."""
    regions = role_regions(user, GRID_ROLES)
    rows = list(
        Region.objects.filter(subtree_q(regions), level=Level.GRID)
        .select_related("boundary")
        .order_by("tree_id", "lft")[: MINE_MAX + 1]
        if regions
        else []
    )
    features = []
    for region in rows[:MINE_MAX]:
        boundary = getattr(region, "boundary", None)
        features.append(
            {
                "type": "Feature",
                "geometry": boundary.geometry if boundary else None,
                "properties": {"code": region.code, "name": region.name},
            }
        )
    return {"type": "FeatureCollection", "features": features, "truncated": len(rows) > MINE_MAX}


class RegionViewSet(viewsets.ReadOnlyModelViewSet):
    """The region tree. Geography is public: no login needed."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    lookup_field = "code"
    lookup_value_regex = r"[0-9A-Za-z]+"
    filterset_class = RegionFilter
    queryset = Region.objects.select_related("parent").order_by("tree_id", "lft")

    def get_serializer_class(self):
        return RegionDetailSerializer if self.action == "retrieve" else RegionSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("lng", OpenApiTypes.DOUBLE, required=True),
            OpenApiParameter("lat", OpenApiTypes.DOUBLE, required=True),
        ],
        responses={
            200: LocateResultSerializer,
            400: OpenApiResponse(description=_("Missing, non-numeric or out-of-range lng/lat")),
            404: OpenApiResponse(description=_("The point lies outside every region")),
        },
    )
    @action(detail=False, methods=["get"], pagination_class=None, filterset_class=None)
    def locate(self, request):
        """The deepest region whose boundary covers the point, with its path from the root."""
        query = LocateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        hit = locate(query.validated_data["lng"], query.validated_data["lat"])
        region = Region.objects.filter(pk=hit.id).first() if hit else None
        if region is None:
            raise NotFound(_("No region covers this point."))
        path = [*region.get_ancestors(), region]
        return Response(
            {
                "code": region.code,
                "name": region.name,
                "level": region.level,
                "path": RegionRefSerializer(path, many=True).data,
            }
        )

    @extend_schema(
        responses={
            200: MyGridsSerializer,
            403: OpenApiResponse(description=_("Not signed in")),
        },
    )
    @action(
        detail=False,
        methods=["get"],
        pagination_class=None,
        filterset_class=None,
        authentication_classes=api_settings.DEFAULT_AUTHENTICATION_CLASSES,
        permission_classes=[IsAuthenticated],
    )
    def mine(self, request):
        """The signed-in grid worker's own grids with their boundaries (GeoJSON), for the
        report page's map: it draws them even when no map tile loads."""
        return Response(my_grids(request.user))


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, style={"input_type": "password"})


class TokenInputSerializer(AuthTokenSerializer):
    # Bounded like the login form's fields: a longer name is a 400 naming the field, not a
    # failed sign-in that the lockout's tables cannot hold.
    username = serializers.CharField(label=_("Username"), max_length=150, write_only=True)
    password = serializers.CharField(
        label=_("Password"),
        max_length=4096,
        style={"input_type": "password"},
        trim_whitespace=False,
        write_only=True,
    )


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()


class ObtainTokenView(ObtainAuthToken):
    """Exchange a username and password for an API token (send it as `Authorization: Token …`)."""

    serializer_class = TokenInputSerializer
    # DRF's view names its own parsers, the unbounded JSON one among them: 200,000 `[` made
    # it recurse into a 500. The API's bounded parsers, as every other view has.
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: TokenResponseSerializer,
            400: OpenApiResponse(description=_("Bad credentials")),
            429: OpenApiResponse(
                description=_("Too many wrong passwords: wait the seconds in Retry-After")
            ),
        },
    )
    def post(self, request, *args, **kwargs):
        # ObtainAuthToken.post, with the sign-in recorded as the login page records its own.
        try:
            serializer = self.get_serializer(data=request.data)
            serializer.is_valid(raise_exception=True)
        except ValidationError:
            # Axes marks the request it refused (or locked with this very attempt): say so,
            # rather than "bad credentials", which would send the user guessing on.
            if getattr(request, "axes_locked_out", False):
                return lockout.api_lockout_response(request)
            raise
        user = serializer.validated_data["user"]
        lockout.token_signed_in(request, user)
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("regions", RegionViewSet, basename="region")
