"""The mediation agreement (调解协议书) as a PDF, drawn with reportlab.

The Chinese text needs a CJK TrueType font embedded in the file: Debian's fonts-wqy-zenhei
(`make install` installs it; settings.MEDIATION_PDF_FONT may name another .ttc/.ttf). Noto
CJK (OpenType/CFF) does not load in reportlab, and its CID fonts are not embedded, so a
reader without them would show boxes. Without the font file `FontMissing` says so plainly.

`render_agreement(data)` takes mediation.selectors.agreement_context's plain values (the
view adds `facts`, the dispute as reported, and each party's masked ID number).
"""

from __future__ import annotations

import io
import os
import threading
from xml.sax.saxutils import escape

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT_NAME = "WenQuanYiZenHei"
DEFAULT_FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"

_lock = threading.Lock()
_registered_from: str | None = None


class FontMissing(ImproperlyConfigured):
    """The CJK font file is not there: the agreement cannot be drawn."""


def font_path() -> str:
    return getattr(settings, "MEDIATION_PDF_FONT", "") or DEFAULT_FONT_PATH


def register_font() -> str:
    """Register the CJK font once per process (and again if the path changes)."""
    global _registered_from
    path = font_path()
    if not os.path.isfile(path):
        raise FontMissing(
            f"The CJK font for mediation agreements is missing: {path}. Install Debian's "
            "fonts-wqy-zenhei (make install, or apt-get install fonts-wqy-zenhei), or set "
            "MEDIATION_PDF_FONT to a TrueType (.ttf/.ttc) font with Chinese glyphs."
        )
    with _lock:
        if _registered_from != path:
            try:
                pdfmetrics.registerFont(TTFont(FONT_NAME, path, subfontIndex=0))
            except Exception as exc:  # noqa: BLE001 - any unreadable file: say which
                raise FontMissing(
                    f"The font {path} could not be loaded for mediation agreements ({exc}). "
                    "Use Debian's fonts-wqy-zenhei (a TrueType collection)."
                ) from exc
            _registered_from = path
    return FONT_NAME


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle(
        "body", fontName=font, fontSize=10.5, leading=16, wordWrap="CJK", spaceAfter=2
    )
    return {
        "body": base,
        "org": ParagraphStyle("org", parent=base, fontSize=12, leading=18, alignment=TA_CENTER),
        "title": ParagraphStyle(
            "title", parent=base, fontSize=22, leading=30, alignment=TA_CENTER, spaceAfter=4
        ),
        "meta": ParagraphStyle(
            "meta", parent=base, fontSize=9.5, leading=14, alignment=TA_CENTER, spaceAfter=10
        ),
        "h2": ParagraphStyle(
            "h2", parent=base, fontSize=12.5, leading=18, spaceBefore=10, spaceAfter=4
        ),
        "cell": ParagraphStyle("cell", parent=base, fontSize=9.5, leading=13, spaceAfter=0),
        "num": ParagraphStyle(
            "num", parent=base, fontSize=9.5, leading=13, spaceAfter=0, alignment=TA_RIGHT
        ),
        "head": ParagraphStyle(
            "head", parent=base, fontSize=9, leading=12, spaceAfter=0, textColor=colors.white
        ),
        "small": ParagraphStyle(
            "small", parent=base, fontSize=8, leading=11, textColor=colors.HexColor("#444444")
        ),
    }


def _p(text, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text or "")).replace("\n", "<br/>"), style)


def _money(amount) -> str:
    return "" if amount is None else f"{amount:,.2f}"


def _when(value) -> str:
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def _table(rows, widths, header: bool = True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#8a8a8a")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#17467a")))
    table.setStyle(TableStyle(style))
    return table


def _story(data: dict, s: dict[str, ParagraphStyle]) -> list:
    width = A4[0] - 40 * mm
    story: list = []
    org = data.get("org") or {}
    if org.get("name"):
        story.append(_p(org["name"], s["org"]))
    story.append(_p(_("Mediation agreement (人民调解协议书)"), s["title"]))
    story.append(
        _p(
            _("Case %(code)s · version %(v)s · drafted %(when)s")
            % {
                "code": data["case_code"],
                "v": data["version"],
                "when": _when(data.get("created_at"))[:10],
            },
            s["meta"],
        )
    )

    # The parties.
    story.append(_p(_("Parties"), s["h2"]))
    rows = [
        [
            _p(_("Party"), s["head"]),
            _p(pgettext("party", "Name"), s["head"]),
            _p(_("ID number"), s["head"]),
        ]
    ]
    for i, party in enumerate(data.get("parties", []), start=1):
        rows.append(
            [
                _p(_("Party %(n)s") % {"n": i}, s["cell"]),
                _p(party["name"], s["cell"]),
                _p(party.get("id_masked", ""), s["cell"]),
            ]
        )
    story.append(_table(rows, [0.2 * width, 0.4 * width, 0.4 * width]))

    mediators = data.get("mediators", [])
    if mediators:
        story.append(_p(_("Mediators"), s["h2"]))
        story.append(
            _p(
                pgettext("between items of a list", "; ").join(
                    _("%(name)s (%(role)s, %(organisation)s)")
                    % {
                        "name": m["name"],
                        "role": m["role_label"],
                        "organisation": m["organisation"],
                    }
                    for m in mediators
                ),
                s["body"],
            )
        )

    # The dispute.
    story.append(_p(_("The dispute"), s["h2"]))
    story.append(
        _p(
            _("%(title)s (%(category)s, %(region)s)")
            % {
                "title": data.get("case_title", ""),
                "category": data.get("category", ""),
                "region": data.get("region", ""),
            },
            s["body"],
        )
    )
    if data.get("facts"):
        story.append(_p(data["facts"], s["body"]))

    # The terms.
    terms = data.get("terms", [])
    if terms:
        story.append(_p(_("Terms agreed"), s["h2"]))
        rows = [
            [
                _p(_("No."), s["head"]),
                _p(_("Who"), s["head"]),
                _p(_("Pays or does what"), s["head"]),
                _p(_("Amount (yuan)"), s["head"]),
                _p(_("Due date"), s["head"]),
                _p(_("Instalment"), s["head"]),
            ]
        ]
        for t in terms:
            rows.append(
                [
                    _p(t["position"], s["cell"]),
                    _p(t["obligor"], s["cell"]),
                    _p(t["obligation"], s["cell"]),
                    _p(_money(t["amount"]), s["num"]),
                    _p(t["due_date"].isoformat() if t["due_date"] else "", s["cell"]),
                    _p(t["instalment"] or "", s["cell"]),
                ]
            )
        if any(t["amount"] is not None for t in terms):
            rows.append(
                [
                    "",
                    "",
                    _p(_("Total"), s["cell"]),
                    _p(_money(data.get("total_amount")), s["num"]),
                    "",
                    "",
                ]
            )
        fractions = (0.07, 0.15, 0.38, 0.15, 0.14, 0.11)
        story.append(_table(rows, [f * width for f in fractions]))

    if data.get("text"):
        story.append(_p(_("Further agreed"), s["h2"]))
        story.append(_p(data["text"], s["body"]))

    # The signatures.
    signatures = data.get("signatures", [])
    block = [_p(_("Signatures"), s["h2"])]
    rows = [
        [
            _p(_("Signer"), s["head"]),
            _p(_("As"), s["head"]),
            _p(_("Typed name"), s["head"]),
            _p(_("Signed at"), s["head"]),
            _p(_("How"), s["head"]),
        ]
    ]
    for sig in signatures:
        rows.append(
            [
                _p(sig["signer"], s["cell"]),
                _p(_("Party") if sig["kind"] == "party" else _("Mediator"), s["cell"]),
                _p(sig["typed_name"], s["cell"]),
                _p(_when(sig["signed_at"]), s["cell"]),
                _p(
                    _("Personal link and SMS code")
                    if sig["via_link"]
                    else _("Logged in")
                    if sig["kind"] == "mediator"
                    else _("SMS code"),
                    s["cell"],
                ),
            ]
        )
    fractions = (0.2, 0.14, 0.2, 0.24, 0.22)
    block.append(_table(rows, [f * width for f in fractions]))
    block.append(Spacer(1, 6))
    block.append(
        _p(
            _(
                "Every signature above was given online on version %(v)s of this agreement, "
                "whose SHA-256 fingerprint is:"
            )
            % {"v": data["version"]},
            s["small"],
        )
    )
    block.append(_p(data["content_hash"], s["small"]))
    story.append(KeepTogether(block))
    return story


def render_agreement(data: dict) -> bytes:
    """The PDF of a signed agreement (A4), the CJK font embedded (a subset)."""
    font = register_font()
    styles = _styles(font)
    buffer = io.BytesIO()
    title = _("Mediation agreement (人民调解协议书)")
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"{title} {data['case_code']}",
        author=(data.get("org") or {}).get("name", ""),
        subject=data["content_hash"],
        creator="fengqiao",
    )

    def on_page(canvas, document):
        footer = _("Case %(code)s · version %(v)s · SHA-256 %(hash)s… · page %(page)s") % {
            "code": data["case_code"],
            "v": data["version"],
            "hash": data["content_hash"][:16],
            "page": document.page,
        }
        canvas.saveState()
        canvas.setFont(font, 8)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawCentredString(A4[0] / 2, 10 * mm, footer)
        canvas.restoreState()

    doc.build(_story(data, styles), onFirstPage=on_page, onLaterPages=on_page)
    return buffer.getvalue()
