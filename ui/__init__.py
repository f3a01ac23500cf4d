"""Streamlit pieces shared by the pages: wizard state, sidebar, cached calls into core, figures."""
