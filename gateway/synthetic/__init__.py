"""Synthetic test material (documents) generated in code: no real identity documents are needed.

Public API: ``make_passport``, ``make_id_card``, ``make_ktp`` (each ``(rng, face_rgb=None)`` and
returning a ``SyntheticDocument``) and ``degrade`` for camera-like damage.
"""
