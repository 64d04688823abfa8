"""A "document" photo that is a sliver (1 x 2000 px, 8 x 4096...) is refused cheaply.

The reader and the quality check scale a photo to a fixed work width: a 1 px wide image became
a work image of gigabytes (tens of GB in the reader, turned a quarter), and since the worker
reads the document before looking for its face, such a photo reached them. Run in a child
process under a 2 GiB address-space limit, so a regression fails here instead of taking the
machine's memory.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

CHILD = r"""
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
import numpy as np
from gateway.verification.captures import InvalidPhoto
from gateway.verification.documents.service import analyze_document
from gateway.verification.factors import document_factor

out = []
for height, width in json.loads(sys.argv[1]):
    rgb = np.full((height, width, 3), 128, np.uint8)
    started = time.perf_counter()
    result = analyze_document(rgb, detect_face=True)
    try:
        document_factor(rgb, None, {}, min_age=18)
        refused = None
    except InvalidPhoto as error:
        refused = error.code
    out.append({
        "shape": [height, width],
        "valid": result["document_valid"],
        "issues": [issue["code"] for issue in result["quality"]["issues"]],
        "refused": refused,
        "seconds": time.perf_counter() - started,
    })
print(json.dumps(out))
"""

SLIVERS = [(2000, 1), (1, 2000), (4096, 1), (4096, 8), (8, 4096), (30, 4096)]


def test_slivers_are_refused_without_a_huge_work_image():
    run = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(SLIVERS)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    assert [tuple(item["shape"]) for item in results] == SLIVERS
    for item in results:
        assert item["valid"] is False
        assert "no_face_on_document" in item["issues"]
        # the worker asks for a new photo of the document (the read could not run)
        assert item["refused"] == "INVALID_PHOTO:document", item
