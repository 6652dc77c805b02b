"""Exit 0 when the app server answers its health endpoint with "ok" (the Dockerfile's HEALTHCHECK), else 1.

Streamlit's ``/_stcore/health`` says the server is up and its script runner ready; it loads no model and renders no
page, so a host may poll it every few seconds. Standard library only (it runs in the light image).
"""

from __future__ import annotations

import os
import sys
import urllib.request

TIMEOUT_S = 4.0


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except OSError:
        return False


def main() -> int:
    port = os.environ.get("PORT", "8501")
    return 0 if healthy(f"http://127.0.0.1:{port}/_stcore/health") else 1


if __name__ == "__main__":
    sys.exit(main())
