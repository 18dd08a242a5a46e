"""Channel Scaling Lab: `streamlit run app.py`. Routes to the page scripts in pages/."""
import gc

import streamlit as st
import streamlit.delta_generator

from ui.room import room
from ui.routing import FAVICON_URL

# Streamlit's first element in a process asks whether it runs in a REPL by walking the whole stack
# with source context (inspect.stack): 13% of the first visitor's script run under py-spy
# (bench/bench_serve.py). Under `streamlit run` the answer is known; skip the walk.
if st.runtime.exists():
    streamlit.delta_generator._use_warning_has_been_displayed = True

st.set_page_config(page_title="Channel Scaling Lab", page_icon=FAVICON_URL, layout="wide")

# Read from the back of a room: the first screen of a 1280x720 projector holds the cards, the network
# diagram and the first chart's plot area (tests/test_layout.py), so less empty space above and beside;
# the header is see-through (it covered the top 60 px) and only its menu takes clicks. No Plotly toolbar:
# it sat on chart titles (hover readouts and drag-to-zoom stay). On a phone the controls dock in the
# lower 45% of the screen, always open, sliders first and the page links last, so a student moves a
# slider and sees the cards above change (a page without sliders, such as the Workshop a class answers on
# its phones, keeps only the lower 22% for its share link and page links);
# metric cards two to a row in a smaller font instead of six full-width rows.
st.html("""<style>
.stMainBlockContainer {padding-top: 1.25rem; padding-left: 1.5rem; padding-right: 1.5rem;}
.stMainBlockContainer h1 {font-size: 1.9rem; padding: 0.25rem 0;}
[data-testid="stHeader"] {background: transparent; pointer-events: none;}
[data-testid="stHeader"] [data-testid="stToolbar"] > * {pointer-events: auto;}
[data-testid="stMetricValue"] {font-size: 1.75rem;}
.js-plotly-plot .modebar-container {display: none !important;}
@media (max-width: 640px) {
  .stMainBlockContainer {padding: 3.25rem 0.75rem 2rem;}
  .stMainBlockContainer h1 {font-size: 1.45rem;}
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stMetric"]) {
    flex-flow: row wrap; gap: 0.5rem;}
  [data-testid="stColumn"]:has([data-testid="stMetric"]) {min-width: 45% !important; flex: 1 1 45% !important;}
  [data-testid="stMetricValue"] {font-size: 1.4rem;}
  [data-testid="stMain"] {height: 55vh !important; bottom: auto !important;}
  [data-testid="stSidebar"] {position: fixed !important; inset: auto 0 0 0 !important; width: 100vw !important;
    min-width: 100vw !important; max-width: 100vw !important; height: 45vh !important; transform: none !important;
    visibility: visible !important; border-top: 1px solid #ccc; box-shadow: 0 -4px 12px rgba(0, 0, 0, 0.15);}
  [data-testid="stSidebarContent"] {width: 100% !important; height: 100% !important; overflow-y: auto;
    display: flex; flex-direction: column;}
  [data-testid="stSidebarNav"] {order: 2;}
  [data-testid="stSidebarUserContent"] [data-testid="stVerticalBlock"] > :has([data-testid="stSlider"]) {order: -1;}
  [data-testid="stSidebarHeader"], [data-testid="stExpandSidebarButton"] {display: none !important;}
  [data-testid="stSidebarUserContent"] {width: 100% !important; padding: 0.5rem 1rem 1rem;}
  [data-testid="stSidebarNav"] ul {display: flex; flex-wrap: wrap; gap: 0 0.25rem;}
  [data-testid="stSidebarNavLink"] {padding: 0 0.5rem; min-height: 1.75rem;}
  body:not(:has([data-testid="stSidebar"] [data-testid="stSlider"])) [data-testid="stMain"] {height: 78vh !important;}
  body:not(:has([data-testid="stSidebar"] [data-testid="stSlider"])) [data-testid="stSidebar"] {height: 22vh !important;}
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
