"""Synthetic test material generated in code: no real identity documents are needed.

``make_passport``, ``make_id_card`` and ``make_ktp`` take ``(rng, face_rgb=None, *, today=None)``
(a face as an RGB array or an image path; a grey silhouette without one) and return a
``SyntheticDocument`` (``image_rgb``, ``mrz_lines``, ``fields``, ``card_corners``); ``degrade``
adds camera-like damage (perspective, rotation, glare, blur, JPEG 60) to a copy.
"""

from gateway.synthetic.degrade import degrade
from gateway.synthetic.documents import SyntheticDocument, make_id_card, make_passport
from gateway.synthetic.ktp import make_ktp

__all__ = ["SyntheticDocument", "degrade", "make_id_card", "make_ktp", "make_passport"]
