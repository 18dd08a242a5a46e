"""Keep every page under app.py's ``st.navigation``, even on a server's very first request.

Streamlit switches to legacy multipage mode while a ``pages/`` folder exists and no
``st.navigation`` call has run yet on the server: the first visitor who opens a shared
link such as ``/compare`` would get the page script alone, without the router, page
config or navigation (streamlit/streamlit#10276). Each page calls ``require_router()``
first; in legacy mode it turns that mode off and reruns through ``app.py``.
"""
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def require_router() -> None:
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
