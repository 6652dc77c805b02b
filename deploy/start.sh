#!/bin/sh
# Start FER Studio as a public demo: the Dockerfile's command, and what CI runs in a fresh light venv.
# The settings a public host needs are flags here (they override .streamlit/config.toml, which stays local-only):
# listen on every interface, no file watcher, uploads up to 50 MB (a 1 GB host cannot hold much more), Streamlit's
# CORS and XSRF protection on (its defaults, written out so a local config cannot switch them off), no usage
# statistics, viewer toolbar, no full garbage collection after every script run (streamlit_app.py says why).
# PORT (8501) and FER_HOST (0.0.0.0) choose where it listens; FER_ICE_SERVERS holds the STUN/TURN servers the live
# page needs behind NAT (docs/deploy.md).
set -eu
cd "$(dirname "$0")/.."
exec streamlit run streamlit_app.py \
    --server.address "${FER_HOST:-0.0.0.0}" \
    --server.port "${PORT:-8501}" \
    --server.headless true \
    --server.fileWatcherType none \
    --server.runOnSave false \
    --server.maxUploadSize 50 \
    --server.enableCORS true \
    --server.enableXsrfProtection true \
    --browser.gatherUsageStats false \
    --client.toolbarMode viewer \
    --runner.postScriptGC false
