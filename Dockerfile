# FER Studio's hosted demo on the light install: every page on the shipped ONNX models, ONNX Runtime, no torch.
# Build and run:  docker build -t fer-studio . && docker run -p 8501:8501 fer-studio
# (a Hugging Face Docker Space reads this file as is; set app_port: 8501 in the Space's README front matter).
# CI runs this file's install and start commands in a fresh venv (.ci/run, tests/test_deploy.py).
FROM python:3.11-slim

# The Space runtime runs containers as uid 1000; so does this image.
RUN useradd --create-home --uid 1000 app
WORKDIR /home/app/fer-studio

COPY --chown=app requirements-app.txt ./
RUN pip install --no-cache-dir -r requirements-app.txt

COPY --chown=app . .
USER app

ENV PORT=8501 \
    FER_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["python", "deploy/healthcheck.py"]
CMD ["sh", "deploy/start.sh"]
