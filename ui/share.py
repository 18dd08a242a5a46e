"""A page's link with a copy button and a QR code, drawn in the sidebar's Share popover only while it is open.

The QR code is encoded here (segno) and shown as an inline PNG data URI: nothing is fetched. A class of 60
shares one process, and most students open the same few links, so codes are cached per link, bounded.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import segno
import streamlit as st

from ui.room import SHARE_SLOT, class_code_input, presenter
from ui.spec_link import MAX_LINK_CHARS


@lru_cache(maxsize=256)
def qr_data_uri(link: str) -> str:
    """The link's QR code as a PNG data URI (medium error correction: a projector's glare and a phone's angle)."""
    return segno.make(link, error="m", micro=False).png_data_uri(scale=6, border=4)


def qr_image(link: str, alt: str) -> None:
    """The QR code, sharp at any size (pixelated scaling of a small PNG); a link past what a QR code holds
    (about 2,300 bytes at this error correction: many pins with every setting) gets one line instead."""
    try:
        uri = qr_data_uri(link)
    except segno.DataOverflowError:
        st.caption(f"This link is too long for a QR code ({len(link):,} characters): copy it above, or unpin "
                   "a few variants.")
        return
    st.html(f'<img src="{uri}" alt="{alt}" style="width: 100%; max-width: 360px; image-rendering: pixelated;">')


def share_popover(link: str, students_link: str | None,
                  specs: Callable[[], list[tuple[str, str]]] = list) -> None:
    """Copy and QR for ``link``; for a presenter, the class code and the students' link to project.

    ``specs``: (file name, JSON) of the custom networks the link carries, asked for only while the popover
    is open. A link past ``MAX_LINK_CHARS`` would break in a browser or a chat app: one line says so, and
    those specs are offered as files to upload under Custom, instead of the link and its QR code.
    """
    slot = st.session_state.get(SHARE_SLOT)
    if slot is None or not slot.open:
        return
    with slot:
        st.markdown("**This view** (the address bar holds the same state)")
        if len(link) > MAX_LINK_CHARS:
            st.caption(f"This link would be {len(link):,} characters, more than the {MAX_LINK_CHARS:,} browsers and "
                       "chat apps reliably keep: share the spec as a file instead (Custom: upload it).")
            for index, (name, text) in enumerate(specs()):
                st.download_button(f"Download the spec ({name})", text.encode(), file_name=name,
                                   mime="application/json", key=f"share_spec_{index}", on_click="ignore",
                                   icon=":material/download:")
        else:
            st.code(link, language=None, wrap_lines=True)  # its copy button copies the link
            qr_image(link, "QR code of this view's link")
        if presenter():
            st.divider()
            class_code_input()
            if students_link:
                st.markdown("**For the class**: students' view, this class code, no answers")
                st.code(students_link, language=None, wrap_lines=True)
                qr_image(students_link, "QR code of the students' link")
