"""The phone app's fixed addresses as the browser sees them: the manifest, the service
worker with its precache, the offline page, and the tags every page carries."""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image

from pwa import precache
from pwa.worker import tile_pattern

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def worker_config(client) -> dict:
    body = client.get("/sw.js").content.decode()
    found = re.search(r"^const CONFIG = (\{.*?\n\});$", body, re.S | re.M)
    assert found, body[:500]
    return json.loads(found.group(1))


# --- The manifest ----------------------------------------------------------------------------


def test_the_manifest_installs_the_site_as_fengqiao(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    data = json.loads(response.content)
    assert data["name"] == data["short_name"] == "枫桥"
    assert data["start_url"] == data["scope"] == "/"
    assert data["display"] == "standalone"
    assert data["theme_color"] == "#17467a"
    assert data["background_color"] == "#f3f5f8"
    assert json.loads(client.get("/manifest.webmanifest", **EN).content)["name"] == "Fengqiao"


def test_the_manifests_icons_are_pngs_of_the_sizes_it_names(client):
    icons = json.loads(client.get("/manifest.webmanifest").content)["icons"]
    assert {icon.get("purpose", "any") for icon in icons} == {"any", "maskable"}
    assert {icon["sizes"] for icon in icons} == {"192x192", "512x512"}
    for icon in icons:
        response = client.get(icon["src"])
        assert response.status_code == 200, icon["src"]
        body = b"".join(response.streaming_content) if response.streaming else response.content
        image = Image.open(io.BytesIO(body))
        assert image.format == "PNG"
        assert f"{image.width}x{image.height}" == icon["sizes"]


# --- The service worker ----------------------------------------------------------------------


def test_the_worker_is_served_from_the_root_to_anyone_and_never_from_a_stale_cache(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert response["Cache-Control"] == "no-cache"
    body = response.content.decode()
    assert "importScripts(CONFIG.workboxSw)" in body
    assert "modulePathCb" in body
    assert "https://" not in body and "http://" not in body  # nothing from another site


def test_the_worker_loads_workbox_and_each_of_its_modules_from_this_site(client):
    config = worker_config(client)
    assert config["workboxSw"] == "/static/vendor/workbox/workbox-sw.js"
    assert set(config["modules"]) == set(precache.WORKBOX_MODULES)
    for url in [config["workboxSw"], *config["modules"].values()]:
        assert client.get(url).status_code == 200, url


def test_every_file_of_the_shell_is_there():
    missing = [name for name in precache.SHELL_FILES if precache.source_path(name) is None]
    assert missing == []


def test_every_precached_url_answers(client):
    config = worker_config(client)
    urls = [entry["url"] for entry in config["precache"]]
    assert "/offline/" in urls
    assert "/static/css/app.css" in urls and "/static/leaflet/leaflet.js" in urls
    for entry in config["precache"]:
        assert re.fullmatch(r"[0-9a-f]{16}", entry["revision"]), entry
        assert client.get(entry["url"]).status_code == 200, entry["url"]


def test_the_worker_asks_no_query_of_the_database(client, django_assert_max_num_queries):
    client.get("/sw.js")
    with django_assert_max_num_queries(0):
        assert client.get("/sw.js").status_code == 200


def test_a_changed_file_gets_a_new_revision(client, settings, tmp_path):
    css = tmp_path / "css" / "app.css"
    css.parent.mkdir()
    css.write_text("body { color: black; }")
    settings.STATICFILES_DIRS = [tmp_path, *settings.STATICFILES_DIRS]

    def revision(path):
        return next(e["revision"] for e in worker_config(client)["precache"] if e["url"] == path)

    before, offline_before = revision("/static/css/app.css"), revision("/offline/")
    css.write_text("body { color: navy;  }")  # same size: the modification time tells
    assert revision("/static/css/app.css") != before
    assert revision("/offline/") != offline_before  # the offline page links the stylesheet


def test_the_reports_queue_is_imported_and_precached(client):
    config = worker_config(client)
    assert config["queue"] == "/static/js/report_queue.js"
    assert "/static/js/report_queue.js" in [e["url"] for e in config["precache"]]
    body = client.get("/sw.js").content.decode()
    assert "if (CONFIG.queue) importScripts(CONFIG.queue);" in body
    assert 'event.tag === "report-queue" && self.FengqiaoQueue' in body


def test_the_worker_keeps_the_road_pages_and_never_the_sign_in_pages(client):
    config = worker_config(client)
    kept = [re.compile(p) for p in config["pages"] + config["api"]]

    def is_kept(path):
        return any(p.search(path) for p in kept)

    for path in ["/", "/report/", "/cases/", "/cases/12/", "/notifications/"]:
        assert is_kept(path), path
    for path in ["/accounts/login/", "/accounts/logout/", "/admin/", "/api/v1/grievances/"]:
        assert not is_kept(path), path
    assert config["logout"] == "/accounts/logout/"
    assert [w["url"] for w in config["warm"]] == ["/", "/report/", "/api/v1/regions/mine/"]


def test_the_worker_may_fetch_tiles_from_the_tile_host(client, settings):
    settings.MAP_TILE_URL = "https://{s}.tiles.example.org/{z}/{x}/{y}{r}.png"
    response = client.get("/sw.js")
    connect = next(d for d in response["Content-Security-Policy"].split(";") if "connect-src" in d)
    assert "https://*.tiles.example.org" in connect
    settings.MAP_TILE_URL = "/tiles/{z}/{x}/{y}.png"
    connect = next(
        d for d in client.get("/sw.js")["Content-Security-Policy"].split(";") if "connect-src" in d
    )
    assert connect.strip() == "connect-src 'self'"


def test_the_tile_pattern_matches_tiles_and_nothing_else():
    pattern, same_origin = tile_pattern("https://{s}.tile.example.org/{z}/{x}/{y}{r}.png")
    assert not same_origin
    tile = re.compile(pattern.replace("\\/", "/"))
    assert tile.search("https://a.tile.example.org/14/12345/6772.png")
    assert tile.search("https://b.tile.example.org/3/4/5@2x.png")
    assert not tile.search("https://tile.example.org.evil.com/14/1/2.png")
    assert not tile.search("https://a.tile.example.org/14/1/2.png.js")
    pattern, same_origin = tile_pattern("/tiles/{z}/{x}/{y}.png")
    assert same_origin
    assert re.compile("^http://localhost" + pattern).search("http://localhost/tiles/1/2/3.png")
    assert tile_pattern("") == (None, False)


# --- The offline page and every page's tags ------------------------------------------------


def test_the_offline_page_names_nobody(client, people):
    client.force_login(people.grid_worker)
    response = client.get("/offline/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "您已离线" in text and "待发送的反映保存在本机上" in text
    assert "grid_worker" not in text and "退出" not in text
    assert "data-offline-page" in text  # its script does not make the phone forget
    assert "You are offline" in client.get("/offline/", **EN).content.decode()


def test_every_page_links_the_manifest_and_registers_the_worker(client, people):
    text = client.get("/").content.decode()
    assert '<link rel="manifest" href="/manifest.webmanifest"' in text
    assert '<link rel="apple-touch-icon" href="/static/img/apple-touch-icon.png">' in text
    assert re.search(r'<script src="/static/js/sw_register.js" defer data-sw="/sw.js"', text)
    assert 'data-session=""' in text
    client.force_login(people.grid_worker)
    text = client.get("/").content.decode()
    mark = re.search(r'data-session="([0-9a-f]{16})"', text)
    assert mark
    client.logout()
    client.force_login(people.grid_worker)  # a new sign-in: fetch ahead again
    assert mark.group(1) not in client.get("/").content.decode()


@pytest.mark.parametrize("path", ["/", "/report/", "/notifications/", "/cases/"])
def test_every_script_and_stylesheet_of_the_road_pages_is_precached(client, people, tree, path):
    """Offline, a page kept by the worker is only as good as its assets: each script and
    stylesheet a grid worker's page asks for is in the precache."""
    precached = {entry["url"] for entry in worker_config(client)["precache"]}
    client.force_login(people.grid_worker)
    text = client.get(path).content.decode()
    assets = set(re.findall(r'<script src="(/static/[^"]+)"', text))
    assets |= set(re.findall(r'<link rel="stylesheet" href="(/static/[^"]+)"', text))
    assert assets, text[:300]
    assert sorted(assets - precached) == []
