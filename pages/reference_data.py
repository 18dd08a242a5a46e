"""Reference data: the published tables the curves come from, with their sources."""
import streamlit as st

from core.network import tasks
from core.published import recipes, reference
from ui.downloads import download_csv
from ui.routing import require_router
from ui.safe_text import quoted
from ui.sidebar import share_link, sync_query

require_router()
TITLES = {"efficientnet": "EfficientNet B0-B7", "mobilenet_v1": "MobileNet V1", "mobilenet_v2": "MobileNet V2",
          "mobilenet_v3": "MobileNet V3", "resnet": "ResNet", "efficientnet_v2": "EfficientNet V2",
          reference.SCALING_FILE: "Single-axis scaling (EfficientNet paper)",
          recipes.RECIPE_FILE: "Training recipes (regularization)",
          tasks.PUBLISHED_FILE: "Segmentation and detection (torchvision)"}
TABLES = (*reference.FAMILY_FILES, reference.SCALING_FILE, recipes.RECIPE_FILE, tasks.PUBLISHED_FILE)
LOADERS = {recipes.RECIPE_FILE: recipes.load, tasks.PUBLISHED_FILE: tasks.load_published}

st.title("Reference data")
sync_query({})  # the room's part of the link: presenter, class, pins, answers
share_link({}, "reference_data")
st.markdown("Published ImageNet-1k results, copied as printed; every row names its source. `macs_m` is in "
            "millions of multiply-accumulates: the MobileNet papers' Mult-Adds, TF-slim's MACs, torchvision's "
            "GFLOPS field and the EfficientNet paper's FLOPS all count this unit (read from the numbers). "
            "Curves on the Explorer use: EfficientNet paper rows; the MobileNet V1 and V2 TF-slim grids; "
            "MobileNet V3 paper float rows; torchvision ResNet V1 weights.")
for tab, name in zip(st.tabs([TITLES[name] for name in TABLES]), TABLES):
    with tab:
        table = LOADERS[name]() if name in LOADERS else reference.load(name)
        st.dataframe(table, hide_index=True)
        # as inert code spans: a source that names a web address must not become a link off the app's origin
        st.caption("Sources: " + "; ".join(quoted(source, 400) for source in sorted(table.source.unique())))
        download_csv(table, f"{name}.csv", f"Download {TITLES[name]} (CSV)", key=f"reference_{name}_csv")
