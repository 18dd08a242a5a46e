import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Every test process (and any latency worker it starts) uses its own throwaway result store.
DATA_DIR = Path(tempfile.mkdtemp(prefix="csl-tests-"))
os.environ["CSL_DATA_DIR"] = str(DATA_DIR)
os.environ.setdefault("CSL_WORKER_IDLE_EXIT_S", "120")
# Pages would queue this host's calibration (minutes of timing in the background of every other test):
# the tests that check it turn it on for themselves.
os.environ.setdefault("CSL_AUTO_CALIBRATE", "0")


@pytest.fixture(scope="session", autouse=True)
def stop_latency_workers():
    """Stop the worker a test started, so nothing outlives the suite."""
    yield
    from core.measurement.jobs import LatencyQueue

    for store in DATA_DIR.rglob("*.sqlite3"):
        info = LatencyQueue(store).worker_pid()
        if info:
            try:
                os.kill(info, signal.SIGTERM)
            except ProcessLookupError:
                pass
    shutil.rmtree(DATA_DIR / "onnx", ignore_errors=True)  # exported models: tens of MB per run
