"""Channel Scaling Lab: `streamlit run app.py`. Routes to the page scripts in pages/."""
import gc
from pathlib import Path

import streamlit as st
import streamlit.delta_generator

from ui.room import room

# Streamlit's first element in a process asks whether it runs in a REPL by walking the whole stack
# with source context (inspect.stack): 13% of the first visitor's script run under py-spy
# (bench/bench_serve.py). Under `streamlit run` the answer is known; skip the walk.
if st.runtime.exists():
    streamlit.delta_generator._use_warning_has_been_displayed = True

# A local file, not a Material icon: those are fetched from a font CDN, and the app requests nothing off its origin.
FAVICON = Path(__file__).parent / "assets" / "favicon.png"

st.set_page_config(page_title="Channel Scaling Lab", page_icon=str(FAVICON), layout="wide")

# Read from the back of a room: less empty space above the first line, so charts start above the fold;
# on a phone, metric cards two to a row in a smaller font instead of five full-width rows.
st.html("""<style>
.stMainBlockContainer {padding-top: 2.5rem;} .stMainBlockContainer h1 {font-size: 2.1rem;}
@media (max-width: 640px) {
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stMetric"]) {
    flex-flow: row wrap; gap: 0.5rem;}
  [data-testid="stColumn"]:has([data-testid="stMetric"]) {min-width: 45% !important; flex: 1 1 45% !important;}
  [data-testid="stMetricValue"] {font-size: 1.5rem;}
}
</style>""")


def home() -> None:
    """The app's root opens the Explorer with the same query (so /explorer is a real address too)."""
    st.switch_page("pages/explorer.py", query_params={key: st.query_params.get_all(key) for key in st.query_params})


navigation = st.navigation([
    st.Page(home, title="Home", default=True, visibility="hidden"),
    st.Page("pages/explorer.py", title="Explorer", url_path="explorer", icon=":material/tune:"),
    st.Page("pages/compare.py", title="Compare", url_path="compare", icon=":material/bar_chart:"),
    st.Page("pages/compound.py", title="Compound scaling", url_path="compound", icon=":material/functions:"),
    st.Page("pages/workshop.py", title="Workshop", url_path="workshop", icon=":material/school:"),
    st.Page("pages/reference_data.py", title="Reference data", url_path="reference_data", icon=":material/menu_book:"),
])
room()  # every page: presenter mode, the students' view, the class code, pins and answers from the link
navigation.run()


@st.cache_resource(show_spinner=False)
def freeze_startup_heap() -> None:
    """Once per process, after the first page has imported everything: move that heap out of the GC's sight.

    Streamlit's full garbage collection after every script run is off (.streamlit/config.toml:
    with it, walking the modules and caches loaded at start-up was half of the server's CPU per
    slider move, bench/bench_serve.py, and more as caches and sessions grew, bench/bench_class.py).
    Python's own generational collector still runs its occasional full collections; frozen, the
    start-up heap is not walked by them. Objects created later, per session, are still collected.
    """
    gc.collect()
    gc.freeze()


freeze_startup_heap()
