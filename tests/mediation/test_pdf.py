"""The agreement PDF (/mediation/<id>/agreement.pdf): drawn with reportlab, the CJK font
(fonts-wqy-zenhei) embedded; rasterised with poppler's pdftoppm to see the text is there."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.test import Client
from django.urls import include, path
from PIL import Image

from config.urls import handler403, handler404, handler500  # noqa: F401
from mediation import pdf, selectors, services
from mediation.models import CaseStatus, MediationCase
from tests.conftest import _missing
from tests.mediation.conftest import PHONE_A, PHONE_B, code_from_outbox, open_mediation, party_data
from tests.mediation.urls import urlpatterns as api_and_site

urlpatterns = [path("", include("mediation.urls")), *api_and_site]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

TERMS = [
    {
        "obligor": 1,
        "obligation": "支付青贮玉米款第一期",
        "amount": "10000",
        "due_date": "2026-10-15",
        "instalment": 1,
    },
    {
        "obligor": 1,
        "obligation": "支付青贮玉米款第二期",
        "amount": "10000",
        "due_date": "2026-11-05",
        "instalment": 2,
    },
    {
        "obligor": 1,
        "obligation": "支付青贮玉米款第三期（余款）",
        "amount": "8500",
        "due_date": "2026-11-28",
        "instalment": 3,
    },
]


def _require_font() -> None:
    if not os.path.isfile(pdf.font_path()):
        _missing(f"{pdf.font_path()} is missing: install fonts-wqy-zenhei (make install)")


@pytest.fixture
def signed(roster, people, django_capture_on_commit_callbacks):
    """A tea-meeting dispute (scenario 3) settled by an agreement everyone signed online:
    卡某 pays 李某 in three instalments before 11-28."""
    mcase = open_mediation(
        people,
        choice_days=0,
        parties=party_data(
            p0={"name": "李某", "id_number": "652827198001011234"},
            p1={"name": "卡某", "id_number": "65282719750505567X"},
        ),
    )
    services.mediation_assign(mcase, services.Actor.of(people.centre_staff), mediator=roster.zhuoma)
    mcase = MediationCase.objects.get(pk=mcase.pk)
    mediator = services.Actor.of(roster.users.zhuoma)
    parties = list(mcase.parties.order_by("position"))
    agreement = services.mediation_agreement(
        mcase,
        mediator,
        text="卡某于2026年11月28日前分三期付清李某100余亩青贮玉米款共计28500元。",
        terms=[{**t, "obligor": parties[t["obligor"]].pk} for t in TERMS],
    )
    for party, phone in zip(parties, (PHONE_A, PHONE_B), strict=True):
        mcase = services._with_people(MediationCase.objects.get(pk=mcase.pk))
        actor = services.Actor(party=next(p for p in mcase.parties.all() if p.pk == party.pk))
        with django_capture_on_commit_callbacks(execute=True):
            services.mediation_send_code(mcase, actor)
        services.mediation_sign(
            mcase,
            actor,
            version=agreement.version,
            sha256=agreement.content_hash,
            typed_name=party.name,
            code=code_from_outbox(phone),
        )
    mcase = services._with_people(MediationCase.objects.get(pk=mcase.pk))
    services.mediation_sign(
        mcase,
        mediator,
        version=agreement.version,
        sha256=agreement.content_hash,
        typed_name="卓玛",
    )
    mcase = MediationCase.objects.get(pk=mcase.pk)
    assert mcase.status == CaseStatus.SETTLED
    return mcase


def test_the_pdf_embeds_the_cjk_font(roster, people, signed):
    _require_font()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(people.centre_staff)
    r = client.get(f"/mediation/{signed.pk}/agreement.pdf")
    assert r.status_code == 200, r.content[:500]
    assert r["Content-Type"] == "application/pdf"
    assert r["Content-Disposition"].startswith('inline; filename="agreement-')
    content = r.content
    assert content.startswith(b"%PDF")
    assert b"WenQuanYi" in content  # the font is embedded (a subset), not referenced
    assert b"/FontFile2" in content


def test_the_pdf_renders_the_chinese_text(roster, people, signed, tmp_path):
    """Rasterise the first page with poppler and look for ink in the text area."""
    _require_font()
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        _missing("pdftoppm is missing: install poppler-utils (make install)")
    data = selectors.agreement_context(signed.settled_agreement)
    data["facts"] = signed.grievance.description
    for party in data["parties"]:
        party["id_masked"] = party["id_number"][:3] + "***********" + party["id_number"][-4:]
    content = pdf.render_agreement(data)
    source = tmp_path / "agreement.pdf"
    source.write_bytes(content)
    out = tmp_path / "page"
    subprocess.run(
        [pdftoppm, "-png", "-r", "60", "-f", "1", "-l", "1", str(source), str(out)],
        check=True,
        timeout=60,
    )
    pngs = sorted(tmp_path.glob("page*.png"))
    assert pngs, list(tmp_path.iterdir())
    keep = os.environ.get("MEDIATION_PDF_PNG")  # to look at it: MEDIATION_PDF_PNG=/tmp/x.png
    if keep:
        Path(keep).write_bytes(pngs[0].read_bytes())
    image = Image.open(io.BytesIO(pngs[0].read_bytes())).convert("L")
    width, height = image.size  # A4 at 60 dpi: about 496 x 702
    assert 480 < width < 510 and 690 < height < 715

    def dark_pixels(box) -> int:
        return sum(image.crop(box).histogram()[:128])

    # The title band (人民调解协议书) and the body carry ink; the bottom margin is blank but
    # for the footer line.
    title = dark_pixels(
        (int(width * 0.2), int(height * 0.04), int(width * 0.8), int(height * 0.12))
    )
    body = dark_pixels((int(width * 0.1), int(height * 0.15), int(width * 0.9), int(height * 0.8)))
    assert title > 150, title
    assert body > 3000, body
    # The ID numbers are masked in the document itself.
    assert b"652827198001011234" not in content


def test_a_missing_font_is_a_clear_error(roster, people, signed, settings):
    settings.MEDIATION_PDF_FONT = "/nonexistent/wqy-zenhei.ttc"
    with pytest.raises(pdf.FontMissing, match="fonts-wqy-zenhei"):
        pdf.register_font()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(people.centre_staff)
    r = client.get(f"/mediation/{signed.pk}/agreement.pdf")
    assert r.status_code == 503
    assert f"/mediation/{signed.pk}/agreement/" in r.content.decode()


def test_the_pdf_through_a_party_link(roster, people, signed):
    _require_font()
    from tests.mediation.conftest import token_of

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    r = client.get(f"/mediation/{signed.pk}/agreement.pdf", {"token": token_of(signed, 0)})
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert client.get(f"/mediation/{signed.pk}/agreement.pdf").status_code == 302  # login
    assert client.get(f"/mediation/{signed.pk}/agreement.pdf", {"token": "x"}).status_code == 404
