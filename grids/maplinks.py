"""Links that open a point in the phone's own map app, to walk or drive there (导航到这里).

Our points are WGS-84 (a phone's GPS as the browser gives it, the boundaries, the OSM
tiles). Chinese map apps draw in GCJ-02 (高德) or BD-09 (百度), so each link says which system
the point is in and the app converts it: 高德's `dev=1`, 百度's `coord_type=wgs84`. A `geo:`
URI (RFC 5870, WGS-84 by definition) is always offered: Android hands it to whichever map
app the person chose. 高德 and 百度 links only where the User-Agent names the platform,
because their schemes differ between Android and iOS and open nothing elsewhere.

The label is the case's code, never its title: the link leaves our site for a third party's
app, and a title may name a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from django.utils.translation import gettext_lazy as _

SOURCE_APP = "fengqiao"


@dataclass(frozen=True)
class MapLink:
    key: str
    label: str
    href: str


def platform(user_agent: str) -> str:
    """ "android", "ios" or "" (unknown: a desktop, or an iPad that says it is a Mac)."""
    ua = user_agent or ""
    if "Android" in ua:
        return "android"
    if any(device in ua for device in ("iPhone", "iPad", "iPod")):
        return "ios"
    return ""


def _coordinate(value: float) -> str:
    # Six decimals: about 0.1 m, as the report form stores them.
    return f"{value:.6f}".rstrip("0").rstrip(".")


def geo_uri(lat: float, lng: float, label: str) -> str:
    """geo:<lat>,<lng>?q=<lat>,<lng>(<label>): the point, and a pin named `label` on it."""
    point = f"{_coordinate(lat)},{_coordinate(lng)}"
    return f"geo:{point}?q={point}({quote(label, safe='')})"


def amap_uri(lat: float, lng: float, label: str, system: str) -> str:
    scheme = "androidamap" if system == "android" else "iosamap"
    query = urlencode(
        {
            "sourceApplication": SOURCE_APP,
            "poiname": label,
            "lat": _coordinate(lat),
            "lon": _coordinate(lng),
            "dev": 1,  # the point is WGS-84: 高德 shifts it to its own GCJ-02
        },
        quote_via=quote,
    )
    return f"{scheme}://viewMap?{query}"


def baidu_uri(lat: float, lng: float, label: str) -> str:
    query = urlencode(
        {
            "location": f"{_coordinate(lat)},{_coordinate(lng)}",
            "title": label,
            "coord_type": "wgs84",
            "src": SOURCE_APP,
        },
        quote_via=quote,
        safe=",",
    )
    return f"baidumap://map/marker?{query}"


def navigation_links(lat: float | None, lng: float | None, label: str, user_agent: str):
    """The links of a point, the `geo:` one first; none without a point."""
    if lat is None or lng is None:
        return []
    links = [MapLink("geo", _("Navigate here"), geo_uri(lat, lng, label))]
    system = platform(user_agent)
    if system:
        links += [
            MapLink("amap", _("Open in Amap"), amap_uri(lat, lng, label, system)),
            MapLink("baidu", _("Open in Baidu Maps"), baidu_uri(lat, lng, label)),
        ]
    return links
