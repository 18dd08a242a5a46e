"""Channel Scaling Lab: `streamlit run app.py`. Routes to the page scripts in pages/."""
import streamlit as st

st.set_page_config(page_title="Channel Scaling Lab", page_icon="📐", layout="wide")

navigation = st.navigation([
    st.Page("pages/explorer.py", title="Explorer", icon="🎚️", default=True),
    st.Page("pages/compare.py", title="Compare", icon="📊"),
    st.Page("pages/compound.py", title="Compound scaling", icon="🧮"),
    st.Page("pages/workshop.py", title="Workshop", icon="🎓"),
    st.Page("pages/reference_data.py", title="Reference data", icon="📚"),
])
navigation.run()
