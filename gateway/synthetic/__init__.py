"""Synthetic test material generated in code: no real identity documents are needed.

``make_passport``, ``make_id_card`` and ``make_ktp`` take ``(rng, face_rgb=None, *, today=None)``
(a face as an RGB array or an image path; a grey silhouette without one) and return a
``SyntheticDocument`` (``image_rgb``, ``mrz_lines``, ``fields``, ``card_corners``);
``gateway.synthetic.degrade.degrade(doc, rng)`` adds camera-like damage (perspective, rotation,
glare, blur, JPEG 60) to a copy. (The module keeps that name, so it is not re-exported here.)
"""

from gateway.synthetic.documents import SyntheticDocument, make_id_card, make_passport
from gateway.synthetic.ktp import make_ktp

__all__ = ["SyntheticDocument", "make_id_card", "make_ktp", "make_passport"]
