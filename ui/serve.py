"""`python -m ui.serve [streamlit flags]`: `streamlit run streamlit_app.py` with the server warmed from
its first second. Streamlit runs the app script only when a browser connects, so warming from the
script (as `streamlit_app.py` also does) starts with the first student; started here, in the server's
own process, the registry facts and stage maps are computed while the teacher is still setting up."""
from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "streamlit_app.py"


def main() -> None:
    from streamlit.web import cli

    from ui import warm

    warm.start()
    sys.argv = ["streamlit", "run", str(APP), *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
