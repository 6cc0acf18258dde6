"""Demo data: the real top of the tree, a made-up bottom, departments and one login per role.

`load_demo()` (behind `manage.py load_demo`) is idempotent: a second run changes nothing.

1. The seed file (grids/data/seed_regions.geojson: 山南市, 甘孜藏族自治州, 巴音郭楞蒙古自治州 and
   their 39 counties, real boundaries) goes through `import_regions`.
2. Below four counties (乃东区, 乡城县, 和静县, and 琼结县 for 拉玉乡) the project makes up
   townships, villages / communities and grids named after the places of docs/domain.md.
   A made-up place never borrows the name of a real one elsewhere: 台斯砍村 and 哈拉玉宫
   lie in 库尔勒市 and 江塘村 in 加查县, so the demo's villages under those codes are
   named as made up for the demo ("泽当示范村", "哈尔莫敦示范村", "哈尔莫敦二村") under a
   real township of their county (泽当街道, 哈尔莫敦镇).
   Their boundaries tile their parent exactly: a county is cut into equal-area strips west
   to east (townships), a township into equal-area bands north to south (villages), a
   village into rows north to south and each row into cells west to east (grids). They are
   written through `import_regions` too, so everything takes one path.
3. Departments (职能部门) of each demo county, and a police station (派出所) per township.
4. One login per role, all with the password DEMO_PASSWORD, printed as a table.
5. The steps other apps register with `demo_step` (routing rules, the mediation roster, demo
   cases), in their order: grids imports none of those apps.

Codes follow the statistical rules (GB/T 10114): township = county[:6] + 3 digits + "000"
(streets 001-099, towns 100-199, townships 200-399), village = township[:9] + 3 digits
(communities 001-199, villages 200-399), grid = village + 3 digits numbered west→east,
north→south.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import DatabaseError, transaction
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from shapely.geometry import MultiPolygon, Polygon, box, shape

from grids.geometry import to_geojson
from grids.importing import import_regions
from grids.models import GridKind, Level, Membership, Region, RegionBoundary, Role, User

SEED_PATH = Path(__file__).resolve().parent / "data" / "seed_regions.geojson"
DEMO_PASSWORD = "fengqiao-demo"
NUMERALS = "一二三四五六七八九十"


class DemoError(Exception):
    """The demo cannot be loaded (a broken seed file, a region the importer refused)."""


# --- The made-up bottom of the tree -------------------------------------------------------


@dataclass(frozen=True)
class VillageSpec:
    name: str
    seq: int  # 001-199 community, 200-399 village
    rows: int  # grids: rows north→south × cols west→east
    cols: int
    # (grid sequence number, name, kind) for special grids; the others are residential.
    special: tuple[tuple[int, str, str], ...] = ()


@dataclass(frozen=True)
class TownshipSpec:
    name: str
    seq: int  # 001-099 street, 100-199 town, 200-399 township
    villages: tuple[VillageSpec, ...]


@dataclass(frozen=True)
class CountySpec:
    code: str
    name: str
    townships: tuple[TownshipSpec, ...]


V, T = VillageSpec, TownshipSpec
DEMO_COUNTIES: tuple[CountySpec, ...] = (
    CountySpec(
        "540502000000",
        "乃东区",
        (
            T(
                "泽当街道",
                1,
                (V("琼嘎顶社区", 1, 2, 2), V("格桑社区", 2, 2, 2), V("泽当示范村", 201, 2, 2)),
            ),
            T(
                "昌珠镇",
                100,
                (
                    V("克松村", 201, 1, 3, ((3, "克松小学网格", GridKind.SCHOOL),)),
                    V("昌珠村", 202, 2, 2),
                ),
            ),
            T("结巴乡", 200, (V("结巴村", 201, 1, 2), V("满庆村", 202, 1, 2))),
        ),
    ),
    CountySpec(
        "513336000000",
        "乡城县",
        (
            T(
                "香巴拉镇",
                100,
                (
                    V(
                        "香巴拉社区",
                        1,
                        2,
                        2,
                        (
                            (3, "乡城县中学网格", GridKind.SCHOOL),
                            (4, "乡城县人民医院网格", GridKind.HOSPITAL),
                        ),
                    ),
                    V("桑披村", 201, 1, 3, ((3, "桑披岭寺网格", GridKind.TEMPLE),)),
                ),
            ),
            T(
                "青德镇",
                101,
                (
                    V("黑达村", 201, 2, 2, ((4, "青德寺网格", GridKind.TEMPLE),)),
                    V("仲德村", 202, 1, 2),
                    V("青麦村", 203, 1, 2),
                ),
            ),
            T("然乌乡", 200, (V("然乌村", 201, 1, 2), V("色尔宫村", 202, 1, 2))),
        ),
    ),
    CountySpec(
        "652827000000",
        "和静县",
        (
            T(
                "和静镇",
                100,
                (
                    V("东归社区", 1, 2, 2),
                    V("巴音社区", 2, 2, 2, ((4, "东归农贸市场网格", GridKind.MARKET),)),
                ),
            ),
            T("哈尔莫敦镇", 101, (V("哈尔莫敦示范村", 201, 2, 2), V("哈尔莫敦二村", 202, 1, 3))),
            T("巴润哈尔莫敦镇", 102, (V("查汗通古村", 201, 1, 2), V("开来村", 202, 1, 2))),
        ),
    ),
    # 拉玉乡 (menu mediation, scenario 4) belongs to 琼结县.
    CountySpec(
        "540524000000",
        "琼结县",
        (T("拉玉乡", 200, (V("拉玉村", 201, 1, 2), V("白那村", 202, 1, 2))),),
    ),
)
del V, T


@dataclass(frozen=True)
class PlannedRegion:
    code: str
    name: str
    level: str
    parent: str
    kind: str = ""


def grid_name(village: VillageSpec, number: int) -> tuple[str, str]:
    for seq, name, kind in village.special:
        if seq == number:
            return name, str(kind)
    numeral = NUMERALS[number - 1] if number <= len(NUMERALS) else str(number)
    return f"{village.name}第{numeral}网格", str(GridKind.RESIDENTIAL)


def plan() -> list[PlannedRegion]:
    """Every made-up region, parents before children (no geometry: no database needed)."""
    out: list[PlannedRegion] = []
    for county in DEMO_COUNTIES:
        for township in county.townships:
            t_code = f"{county.code[:6]}{township.seq:03d}000"
            out.append(PlannedRegion(t_code, township.name, Level.TOWNSHIP, county.code))
            for village in township.villages:
                v_code = f"{t_code[:9]}{village.seq:03d}"
                out.append(PlannedRegion(v_code, village.name, Level.VILLAGE, t_code))
                for number in range(1, village.rows * village.cols + 1):
                    name, kind = grid_name(village, number)
                    out.append(
                        PlannedRegion(f"{v_code}{number:03d}", name, Level.GRID, v_code, kind)
                    )
    return out


def region_names() -> dict[str, str]:
    names = {c.code: c.name for c in DEMO_COUNTIES}
    names.update((r.code, r.name) for r in plan())
    return names


def code_of(*names: str) -> str:
    """The code of the planned region reached by a path of names, e.g. ("乡城县", "黑达村")."""
    county = next(c for c in DEMO_COUNTIES if c.name == names[0])
    by_parent: dict[str, dict[str, str]] = {}
    for r in plan():
        by_parent.setdefault(r.parent, {})[r.name] = r.code
    code = county.code
    for name in names[1:]:
        children = by_parent.get(code, {})
        if name in children:
            code = children[name]
            continue
        # Allow skipping a level: look one level further down.
        code = next(
            by_parent[child][name]
            for child in children.values()
            if name in by_parent.get(child, {})
        )
    return code


# --- Cutting boundaries -------------------------------------------------------------------


def polygonal(geom) -> Polygon | MultiPolygon | None:
    """The polygonal part of a geometry (an intersection may add lines and points)."""
    if isinstance(geom, Polygon | MultiPolygon):
        return None if geom.is_empty else geom
    parts: list[Polygon] = []
    for part in getattr(geom, "geoms", []):
        if isinstance(part, Polygon) and not part.is_empty:
            parts.append(part)
        elif isinstance(part, MultiPolygon):
            parts.extend(p for p in part.geoms if not p.is_empty)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def split(geom, n: int, axis: str) -> list:
    """Cut `geom` into `n` parts of equal area by lines of constant longitude or latitude.

    axis "lng": strips west→east; axis "lat": bands north→south. The parts tile `geom`.
    """
    if n <= 1:
        return [geom]
    minx, miny, maxx, maxy = geom.bounds
    pad = 1.0

    def band(lo: float, hi: float):
        if axis == "lng":
            return box(lo, miny - pad, hi, maxy + pad)
        return box(minx - pad, lo, maxx + pad, hi)

    lo_edge, hi_edge = (minx, maxx) if axis == "lng" else (miny, maxy)
    total = geom.area
    cuts = [lo_edge - pad]
    for k in range(1, n):
        target = total * k / n
        lo, hi = cuts[-1] if k > 1 else lo_edge, hi_edge
        for _step in range(48):
            mid = (lo + hi) / 2
            if geom.intersection(band(lo_edge - pad, mid)).area < target:
                lo = mid
            else:
                hi = mid
        cuts.append((lo + hi) / 2)
    cuts.append(hi_edge + pad)
    parts = [polygonal(geom.intersection(band(a, b))) for a, b in zip(cuts, cuts[1:], strict=False)]
    if axis == "lat":
        parts.reverse()  # north first
    return parts


def cut_plan(county_geoms: dict[str, object]) -> dict[str, object]:
    """Geometry for every planned region, cut from the counties' boundaries."""
    geoms: dict[str, object] = dict(county_geoms)
    for county in DEMO_COUNTIES:
        county_code = county.code
        strips = split(geoms[county_code], len(county.townships), "lng")
        for township, t_geom in zip(county.townships, strips, strict=True):
            t_code = f"{county_code[:6]}{township.seq:03d}000"
            geoms[t_code] = t_geom
            bands = split(t_geom, len(township.villages), "lat")
            for village, v_geom in zip(township.villages, bands, strict=True):
                v_code = f"{t_code[:9]}{village.seq:03d}"
                geoms[v_code] = v_geom
                number = 0
                for row in split(v_geom, village.rows, "lat"):
                    for cell in split(row, village.cols, "lng"):
                        number += 1
                        geoms[f"{v_code}{number:03d}"] = cell
    return geoms


# --- Departments --------------------------------------------------------------------------

# (code suffix, name suffix): one of each per demo county.
COUNTY_DEPARTMENTS = (
    ("transport", "交通运输局"),
    ("labour-inspection", "劳动保障监察大队"),
    ("police", "公安局"),
    ("womens-federation", "妇女联合会"),
    ("civil-affairs", "民政局"),
    ("natural-resources", "自然资源局"),
    ("housing", "住房和城乡建设局"),
    ("water", "水利局"),
    ("market-regulation", "市场监督管理局"),
    ("justice", "司法局"),
)
TOWNSHIP_SUFFIXES = ("街道", "镇", "乡")


def planned_departments() -> list[tuple[str, str, str]]:
    """(code, name, region code) of every demo department."""
    out = []
    for county in DEMO_COUNTIES:
        for suffix, name in COUNTY_DEPARTMENTS:
            out.append((f"{county.code[:6]}-{suffix}", f"{county.name}{name}", county.code))
        for township in county.townships:
            t_code = f"{county.code[:6]}{township.seq:03d}000"
            short = township.name
            for suffix in TOWNSHIP_SUFFIXES:
                if short.endswith(suffix) and len(short) > len(suffix) + 1:
                    short = short[: -len(suffix)]
                    break
            out.append((f"{t_code[:9]}-police", f"{county.name}公安局{short}派出所", t_code))
    return out


# --- Users --------------------------------------------------------------------------------

SUPERUSER = "superuser"
RESIDENT = "resident"
DEPARTMENT_STAFF = "department_staff"
MEDIATOR = "mediator"


@dataclass(frozen=True)
class DemoUser:
    username: str
    full_name: str
    role: str  # a Role, DEPARTMENT_STAFF, MEDIATOR, SUPERUSER or RESIDENT
    # A path of region names, ("dept", department code) or ("org", mediation organisation).
    place: tuple[str, ...] = ()


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "系统管理员", SUPERUSER),
    # 乡城县: the retaining-wall hazard (scenario 1).
    DemoUser("gerongpengcuo", "割绒彭措", Role.GRID_WORKER, ("乡城县", "黑达村", "黑达村第一网格")),
    DemoUser("zhaxiciren", "扎西次仁", Role.GRID_POLICE, ("乡城县", "黑达村", "黑达村第一网格")),
    DemoUser(
        "luorongdingzhu", "洛绒定珠", Role.GRID_POLICE, ("乡城县", "黑达村", "黑达村第一网格")
    ),
    DemoUser("nimaciren", "尼玛次仁", Role.GRID_LEADER, ("乡城县", "黑达村")),
    DemoUser("zerenzhuoma", "泽仁卓玛", Role.CENTRE_STAFF, ("乡城县", "青德镇")),
    DemoUser("silanglamu", "四郎拉姆", Role.CENTRE_STAFF, ("乡城县",)),
    DemoUser("dengzhu", "登珠", Role.CENTRE_ADMIN, ("乡城县",)),
    DemoUser("gongbu", "贡布", Role.LEADER, ("乡城县",)),
    DemoUser("lijun", "李军", DEPARTMENT_STAFF, ("dept", "513336-transport")),
    # 和静县: unpaid wages, the tea meeting, 13 workers' wages (scenarios 2, 3, 6).
    DemoUser(
        "bateer", "巴特尔", Role.GRID_WORKER, ("和静县", "哈尔莫敦示范村", "哈尔莫敦示范村第一网格")
    ),
    DemoUser("aili", "艾力", Role.GRID_POLICE, ("和静县", "哈尔莫敦示范村")),
    DemoUser("menghe", "孟和", Role.GRID_LEADER, ("和静县", "哈尔莫敦示范村")),
    DemoUser("wangli", "王丽", Role.CENTRE_STAFF, ("和静县", "哈尔莫敦镇")),
    DemoUser("chenjing", "陈静", Role.CENTRE_STAFF, ("和静县",)),
    DemoUser("zhaoqiang", "赵强", Role.LEADER, ("和静县",)),
    DemoUser("maxiaoyan", "马晓燕", DEPARTMENT_STAFF, ("dept", "652827-labour-inspection")),
    DemoUser("liuwei", "刘伟", DEPARTMENT_STAFF, ("dept", "652827-transport")),
    # 乃东区 and 琼结县拉玉乡.
    DemoUser("ciren", "次仁", Role.GRID_WORKER, ("乃东区", "泽当示范村", "泽当示范村第一网格")),
    DemoUser("dawa", "达瓦", Role.GRID_POLICE, ("乃东区", "泽当示范村", "泽当示范村第一网格")),
    DemoUser("pubu", "普布", Role.GRID_LEADER, ("乃东区", "泽当示范村")),
    DemoUser("yangzong", "央宗", Role.CENTRE_STAFF, ("乃东区", "泽当街道")),
    DemoUser("zhuoga", "卓嘎", Role.CENTRE_STAFF, ("乃东区",)),
    DemoUser("basang", "巴桑", Role.LEADER, ("乃东区",)),
    DemoUser("lamu", "拉姆", Role.CENTRE_STAFF, ("琼结县", "拉玉乡")),
    # Mediators on the public roster (the mediation app links the accounts to the roster).
    DemoUser("zhuoma", "卓玛", MEDIATOR, ("org", "琼结县拉玉乡人民调解委员会")),
    DemoUser("qimige", "其米格", MEDIATOR, ("org", "和静县矛盾纠纷多元化解中心")),
    # A resident: no membership; reports and follows their own cases.
    DemoUser("caomou", "曹某", RESIDENT),
)


def place_code(user: DemoUser) -> str:
    if not user.place or user.place[0] == "org":
        return ""
    if user.place[0] == "dept":
        return user.place[1]
    return code_of(*user.place)


def role_label(role: str) -> str:
    if role == SUPERUSER:
        return _("Superuser")
    if role == RESIDENT:
        return _("Resident")
    if role == DEPARTMENT_STAFF:
        return _("Department staff")
    if role == MEDIATOR:
        return _("Mediator")
    return str(Role(role).label)


def place_label(user: DemoUser) -> str:
    """Where the user holds the role: "乡城县 黑达村第一网格 (513336101201001)"."""
    if not user.place:
        return _("(everything)") if user.role == SUPERUSER else _("(no membership)")
    if user.place[0] == "org":
        return user.place[1]
    if user.place[0] == "dept":
        names = {code: name for code, name, _region in planned_departments()}
        return f"{names[user.place[1]]} ({user.place[1]})"
    name = user.place[0] if len(user.place) == 1 else f"{user.place[0]} {user.place[-1]}"
    return f"{name} ({place_code(user)})"


# --- Loading ------------------------------------------------------------------------------


def _import(source, what: str) -> None:
    report = import_regions(source, fmt="geojson")
    if report.skipped:
        problems = "; ".join(str(skipped) for skipped in report.skipped[:5])
        raise DemoError(
            _("%(what)s: %(n)d rows skipped: %(problems)s")
            % {"what": what, "n": len(report.skipped), "problems": problems}
        )


def load_regions() -> dict[str, int]:
    """Import the seed file and the made-up regions below the demo counties.

    Both go through grids.importing (the code behind `manage.py import_regions`): upsert by
    code, bulk writes, one tree rebuild when something is new or moved.
    """
    _import(str(SEED_PATH), SEED_PATH.name)
    county_codes = [c.code for c in DEMO_COUNTIES]
    county_geoms = {
        code: shape(geometry)
        for code, geometry in RegionBoundary.objects.filter(
            region__code__in=county_codes
        ).values_list("region__code", "geometry")
    }
    missing = set(county_codes) - set(county_geoms)
    if missing:
        raise DemoError(
            _("the seed file lacks the counties %(codes)s") % {"codes": ", ".join(sorted(missing))}
        )
    geoms = cut_plan(county_geoms)
    planned = plan()
    features = [
        {
            "type": "Feature",
            "properties": {
                "name": r.name,
                "code": r.code,
                "parent": r.parent,
                "level": str(r.level),
                "kind": r.kind,
            },
            "geometry": to_geojson(geoms[r.code]),
        }
        for r in planned
    ]
    # One FeatureCollection for every level: the importer finds parents among its rows.
    _import({"type": "FeatureCollection", "features": features}, _("demo regions"))
    return {str(level): sum(1 for r in planned if r.level == level) for level in Level}


def load_departments() -> int:
    Department = apps.get_model("dispatch", "Department")
    planned = planned_departments()
    regions = dict(
        Region.objects.filter(code__in={r for _c, _n, r in planned}).values_list("code", "id")
    )
    existing = {d.code: d for d in Department.objects.filter(code__in=[c for c, _n, _r in planned])}
    for code, name, region_code in planned:
        department = existing.get(code)
        if department is None:
            Department.objects.create(code=code, name=name, region_id=regions[region_code])
        elif department.name != name or department.region_id != regions[region_code]:
            department.name, department.region_id = name, regions[region_code]
            department.save(update_fields=["name", "region"])
    return len(planned)


def load_users() -> int:
    """Create the demo users, or bring them back to the demo state (password included)."""
    Department = apps.get_model("dispatch", "Department")
    DepartmentMembership = apps.get_model("dispatch", "DepartmentMembership")
    existing = {
        u.username: u for u in User.objects.filter(username__in=[d.username for d in DEMO_USERS])
    }
    # One hash for all demo users (they share a published password anyway), and one check
    # per distinct stored hash: PBKDF2 costs ~0.3 s a time.
    verified: dict[str, bool] = {}
    shared_hash = None
    for stored in {u.password for u in existing.values()}:
        verified[stored] = check_password(DEMO_PASSWORD, stored)
        if verified[stored] and shared_hash is None:
            shared_hash = stored
    if shared_hash is None:
        shared_hash = make_password(DEMO_PASSWORD)

    region_ids = dict(
        Region.objects.filter(
            code__in=[place_code(d) for d in DEMO_USERS if d.place and d.place[0] != "dept"]
        ).values_list("code", "id")
    )
    department_ids = dict(
        Department.objects.filter(
            code__in=[d.place[1] for d in DEMO_USERS if d.place and d.place[0] == "dept"]
        ).values_list("code", "id")
    )
    for demo in DEMO_USERS:
        wanted = {
            "full_name": demo.full_name,
            "is_active": True,
            "is_staff": demo.role == SUPERUSER,
            "is_superuser": demo.role == SUPERUSER,
            "must_change_password": False,
        }
        user = existing.get(demo.username)
        if user is None:
            user = User(username=demo.username, password=shared_hash, **wanted)
            user.save()
        else:
            changed = [name for name, value in wanted.items() if getattr(user, name) != value]
            for name in changed:
                setattr(user, name, wanted[name])
            if not verified.get(user.password, False):
                user.password = shared_hash
                changed.append("password")
            if changed:
                user.save(update_fields=changed)
        if demo.role in (SUPERUSER, RESIDENT, MEDIATOR):
            continue
        if demo.role == DEPARTMENT_STAFF:
            DepartmentMembership.objects.get_or_create(
                user=user, department_id=department_ids[demo.place[1]]
            )
        else:
            Membership.objects.get_or_create(
                user=user, region_id=region_ids[place_code(demo)], role=demo.role
            )
    return len(DEMO_USERS)


# --- Steps of other apps ---------------------------------------------------------------------

# A step returns what it holds afterwards: {label shown in the summary: count}.
DemoStep = Callable[[], Mapping[str, int] | None]


@dataclass(frozen=True)
class RegisteredStep:
    order: int
    name: str
    func: DemoStep


_steps: dict[str, RegisteredStep] = {}


def demo_step(order: int):
    """Decorator: run the function after the regions, departments and users, lowest order
    first. Apps register in their AppConfig.ready(); each step must be idempotent."""

    def register(func: DemoStep) -> DemoStep:
        name = f"{func.__module__}.{func.__qualname__}"
        _steps[name] = RegisteredStep(order, name, func)
        return func

    return register


def demo_steps() -> list[RegisteredStep]:
    return sorted(_steps.values(), key=lambda s: (s.order, s.name))


class DiscardSms:
    """An SMS backend that sends nothing (see `load_demo`)."""

    def send(self, phone: str, text: str) -> None:
        pass


@contextmanager
def _no_text_messages() -> Iterator[None]:
    # The demo's phone numbers are made up: whatever gateway the site is configured with,
    # no text message leaves while the demo loads (they go out on commit, hence around it).
    missing = object()
    before = getattr(settings, "SMS_BACKEND", missing)
    settings.SMS_BACKEND = "grids.demo.DiscardSms"
    try:
        yield
    finally:
        if before is missing:
            del settings.SMS_BACKEND
        else:
            settings.SMS_BACKEND = before


def load_demo() -> dict[str, int]:
    """Regions, departments and users, then every registered step, in one transaction."""
    with _no_text_messages(), transaction.atomic():
        counts = load_regions()
        counts["departments"] = load_departments()
        counts["users"] = load_users()
        for step in demo_steps():
            counts.update(step.func() or {})
    return counts


# --- The table of logins ------------------------------------------------------------------


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def login_rows() -> list[tuple[str, str, str, str, str]]:
    return [
        (d.username, d.full_name, role_label(d.role), place_label(d), DEMO_PASSWORD)
        for d in DEMO_USERS
    ]


def login_table() -> str:
    header = (
        capfirst(_("username")),
        capfirst(_("full name")),
        capfirst(_("role")),
        _("Region / department"),
        capfirst(_("password")),
    )
    rows = [header, *login_rows()]
    widths = [max(_width(str(row[i])) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(_pad(str(cell), w) for cell, w in zip(row, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def demo_loaded() -> bool | None:
    """True when the demo users exist, False when not, None when the database cannot tell."""
    try:
        return User.objects.filter(username="admin").exists()
    except DatabaseError:
        return None
