"""Keep every page under app.py's ``st.navigation``, even on a server's very first request.

Streamlit stays in legacy multipage mode while a ``pages/`` folder exists and no
``st.navigation`` call has run yet in the process: the first visitor who opens a
shared link such as ``/compare`` would get the page script alone, without the router,
the page config or the navigation (streamlit/streamlit#10276). Each page calls
``require_router()`` first; in legacy mode it runs ``app.py`` in place (which leaves
legacy mode and runs this same page, found by its URL path) and stops. No rerun, so
no click or other one-shot widget event is lost. Page URL paths equal their file
names so that both modes name the same page.
"""
import base64
import runpy
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

APP = Path(__file__).resolve().parents[1] / "app.py"
PAGE_PATHS = frozenset(page.stem for page in (APP.parent / "pages").glob("*.py"))
# The favicon as a data URL, read once per process: given a file path, st.set_page_config reads, hashes
# and registers the file on every script run (2% of the server's busy time per move under a class).
# A local file, not a Material icon: those are fetched from a font CDN, and the app requests nothing
# off its origin.
FAVICON_URL = "data:image/png;base64," + base64.b64encode((APP.parent / "assets" / "favicon.png").read_bytes()).decode()


def page_url(current_url: str, url_path: str, query: dict[str, str]) -> str:
    """The link to page ``url_path`` ('' for the Explorer, served at the root) from the current URL.

    The root form is canonical: the default page is served at ``/`` (``/explorer`` only redirects there).
    Colons and commas stay readable (``pins=mobilenet_v2:0.5:1:160,...``).
    """
    parts = urlsplit(current_url)
    root = parts.path.rstrip("/")
    if root.rsplit("/", 1)[-1] in PAGE_PATHS:
        root = root.rsplit("/", 1)[0]
    path = f"{root}/{url_path}" if url_path else f"{root}/"
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query, safe=":,"), ""))


def require_router() -> None:
    if PagesManager.uses_pages_directory:
        runpy.run_path(str(APP))
        st.stop()
