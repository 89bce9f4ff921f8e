# rnnviz, the app, for a classroom: `docker build -t rnnviz .` then `docker run -p 8501:8501 rnnviz`.
# See "Deployment for a classroom" in README.md for replicas behind a proxy and for GPUs.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# torch comes from PyTorch's own index first: its CPU wheels leave out the CUDA libraries that PyPI's
# torch wheel brings along (gigabytes). For a GPU image pass a CUDA index, e.g.
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 -t rnnviz:gpu .
# requirements.txt then finds torch==2.13.0 already installed (a "+cpu" or "+cu128" build matches ==2.13.0).
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
WORKDIR /app
COPY requirements.txt .
RUN pip install --index-url "$TORCH_INDEX" torch==2.13.0 \
 && pip install -r requirements.txt

# The app runs as a user without privileges; it writes only per-tab upload folders under /tmp.
RUN useradd --create-home --uid 10001 rnnviz
COPY --chown=rnnviz:rnnviz . .
USER rnnviz

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"
# No source watcher: nothing in the image changes, and it would cost a thread and inotify watches per page.
CMD ["streamlit", "run", "app.py", "--server.address", "0.0.0.0", "--server.port", "8501", "--server.headless", "true", \
     "--server.fileWatcherType", "none"]
