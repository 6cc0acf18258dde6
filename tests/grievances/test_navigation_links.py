"""导航到这里 on the case page: the point opens in the phone's map app. A `geo:` link always;
高德 and 百度 links (with the point declared WGS-84) when the User-Agent names Android or iOS;
nothing without a point. The label is the case code, never the title."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from tests.grievances.conftest import new_case

pytestmark = pytest.mark.django_db

ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


def links_of(response) -> dict[str, str]:
    """The rendered hrefs of the navigation links, by map app, as the browser reads them."""
    body = response.content.decode()
    found = re.findall(
        r'<a class="btn[^"]*case-navigate__link" href="([^"]*)" data-map-app="(\w+)"', body
    )
    return {app: html.unescape(href) for href, app in found}


def page(user, case, agent: str):
    client = Client(HTTP_USER_AGENT=agent)
    client.force_login(user)
    response = client.get(f"/cases/{case.pk}/")
    assert response.status_code == 200
    return response


def test_a_desktop_gets_the_geo_link_alone(tree, people):
    case = new_case(people.grid_worker, point=(91.2, 29.7), title="张三家门口积水")
    response = page(people.grid_worker, case, DESKTOP)
    links = links_of(response)
    code = case.display_code
    assert links == {"geo": f"geo:29.7,91.2?q=29.7,91.2({code})"}
    assert "导航到这里" in response.content.decode()
    assert "User-Agent" in response["Vary"]


def test_android_gets_amap_and_baidu_with_the_point_in_wgs84(tree, people):
    case = new_case(people.grid_worker, point=(91.234567, 29.712345), title="张三家门口积水")
    links = links_of(page(people.grid_worker, case, ANDROID))
    assert list(links) == ["geo", "amap", "baidu"]
    assert links["geo"].startswith("geo:29.712345,91.234567?q=29.712345,91.234567(")

    amap = urlsplit(links["amap"])
    assert (amap.scheme, amap.netloc) == ("androidamap", "viewMap")
    query = parse_qs(amap.query)
    assert query == {
        "sourceApplication": ["fengqiao"],
        "poiname": [case.display_code],
        "lat": ["29.712345"],
        "lon": ["91.234567"],
        "dev": ["1"],
    }

    baidu = urlsplit(links["baidu"])
    assert (baidu.scheme, baidu.netloc, baidu.path) == ("baidumap", "map", "/marker")
    assert parse_qs(baidu.query) == {
        "location": ["29.712345,91.234567"],
        "title": [case.display_code],
        "coord_type": ["wgs84"],
        "src": ["fengqiao"],
    }
    # The title (it may name a person) never goes to a third party's app.
    assert all("张三" not in href for href in links.values())


def test_an_iphone_gets_the_ios_scheme_of_amap(tree, people):
    case = new_case(people.grid_worker, point=(91.2, 29.7))
    links = links_of(page(people.grid_worker, case, IPHONE))
    assert links["amap"].startswith("iosamap://viewMap?sourceApplication=fengqiao&")
    assert "dev=1" in links["amap"]
    assert links["baidu"].startswith("baidumap://map/marker?location=29.7,91.2&")


def test_a_case_without_a_point_has_no_navigation(tree, people):
    case = new_case(people.grid_worker, region=tree.grid_a1)
    assert links_of(page(people.grid_worker, case, ANDROID)) == {}


def test_another_regions_user_sees_no_page_and_no_point(tree, people):
    case = new_case(people.grid_worker, point=(91.2, 29.7))
    client = Client(HTTP_USER_AGENT=ANDROID)
    client.force_login(people.outsider)
    response = client.get(f"/cases/{case.pk}/")
    assert response.status_code == 404
    assert "geo:" not in response.content.decode()
