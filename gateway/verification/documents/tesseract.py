"""Tesseract through its C API (``libtesseract.so.5`` from Debian ``tesseract-ocr``).

Calling the library in-process instead of the ``tesseract`` command saves a process start and a
temporary file per line (about 60 ms each here), which is what keeps an MRZ page under budget.
One engine per thread: the C API handle is not thread-safe.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import os
import threading
from pathlib import Path

import numpy as np

TESSDATA_DIRS = [
    Path("/usr/share/tesseract-ocr/5/tessdata"),
    Path("/usr/share/tesseract-ocr/4.00/tessdata"),
    Path("/usr/share/tessdata"),
]
PSM_SINGLE_LINE = 7
PSM_BLOCK = 6
OEM_LSTM_ONLY = 1

_local = threading.local()


class TesseractUnavailable(RuntimeError):
    """libtesseract or its language data is missing (install Debian tesseract-ocr)."""


def _library() -> ctypes.CDLL:
    # tesseract's OpenMP threads fight the worker's other processes for the same cores and made
    # a line 4x slower here; one thread per engine, parallelism comes from worker processes.
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    name = ctypes.util.find_library("tesseract") or "libtesseract.so.5"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise TesseractUnavailable(f"libtesseract not found ({exc})") from exc
    lib.TessBaseAPICreate.restype = ctypes.c_void_p
    lib.TessBaseAPIInit2.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_int,
    ]
    lib.TessBaseAPIInit2.restype = ctypes.c_int
    lib.TessBaseAPISetVariable.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    lib.TessBaseAPISetPageSegMode.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.TessBaseAPISetImage.argtypes = [
        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
    ]  # fmt: skip
    lib.TessBaseAPIGetUTF8Text.argtypes = [ctypes.c_void_p]
    lib.TessBaseAPIGetUTF8Text.restype = ctypes.POINTER(ctypes.c_char)
    lib.TessBaseAPIMeanTextConf.argtypes = [ctypes.c_void_p]
    lib.TessBaseAPIMeanTextConf.restype = ctypes.c_int
    lib.TessDeleteText.argtypes = [ctypes.POINTER(ctypes.c_char)]
    lib.TessBaseAPISetSourceResolution.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def tessdata_dir() -> Path:
    for directory in (
        [Path(os.environ["TESSDATA_PREFIX"])] if "TESSDATA_PREFIX" in os.environ else []
    ):
        if (directory / "eng.traineddata").exists():
            return directory
    for directory in TESSDATA_DIRS:
        if (directory / "eng.traineddata").exists():
            return directory
    raise TesseractUnavailable("eng.traineddata not found: install Debian tesseract-ocr-eng")


class Tesseract:
    """One initialised engine: language, character whitelist and segmentation mode fixed."""

    def __init__(
        self, language: str = "eng", whitelist: str | None = None, psm: int = PSM_SINGLE_LINE
    ):
        self._lib = _library()
        self._handle = self._lib.TessBaseAPICreate()
        status = self._lib.TessBaseAPIInit2(
            self._handle, str(tessdata_dir()).encode(), language.encode(), OEM_LSTM_ONLY
        )
        if status != 0:
            raise TesseractUnavailable(f"tesseract could not load language {language!r}")
        if whitelist:
            self._lib.TessBaseAPISetVariable(
                self._handle, b"tessedit_char_whitelist", whitelist.encode()
            )
        self._lib.TessBaseAPISetVariable(self._handle, b"load_system_dawg", b"0")
        self._lib.TessBaseAPISetVariable(self._handle, b"load_freq_dawg", b"0")
        self._lib.TessBaseAPISetPageSegMode(self._handle, psm)
        atexit.register(self.close)

    def close(self) -> None:
        """Free the engine (at exit too: tesseract complains of leaked dictionaries otherwise)."""
        if self._handle:
            self._lib.TessBaseAPIEnd.argtypes = [ctypes.c_void_p]
            self._lib.TessBaseAPIDelete.argtypes = [ctypes.c_void_p]
            self._lib.TessBaseAPIEnd(self._handle)
            self._lib.TessBaseAPIDelete(self._handle)
            self._handle = None

    def read(self, gray: np.ndarray) -> tuple[str, int]:
        """Text and mean confidence (0-100) of an 8-bit greyscale image."""
        image = np.ascontiguousarray(gray, dtype=np.uint8)
        height, width = image.shape
        self._lib.TessBaseAPISetImage(self._handle, image.ctypes.data, width, height, 1, width)
        self._lib.TessBaseAPISetSourceResolution(self._handle, 300)
        pointer = self._lib.TessBaseAPIGetUTF8Text(self._handle)
        text = ctypes.string_at(pointer).decode("utf-8", "replace") if pointer else ""
        if pointer:
            self._lib.TessDeleteText(pointer)
        return text, int(self._lib.TessBaseAPIMeanTextConf(self._handle))


def engine(
    name: str, language: str = "eng", whitelist: str | None = None, psm: int = PSM_SINGLE_LINE
) -> Tesseract:
    """A per-thread engine, created once per (thread, name): loading costs ~100 ms."""
    engines = getattr(_local, "engines", None)
    if engines is None:
        engines = _local.engines = {}
    if name not in engines:
        engines[name] = Tesseract(language, whitelist, psm)
    return engines[name]
