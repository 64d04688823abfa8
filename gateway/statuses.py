"""A profile's statuses, written once, and the named groups the platform decides by.

The transition table itself lives in the data layer (``pb_hooks/lib/transitions.js``), which
refuses an illegal move whoever asks; tests check that it and this enum name the same statuses.
The groups below are the questions the gateway asks of a status, each answered once here.
"""

from __future__ import annotations

from enum import StrEnum


class ProfileStatus(StrEnum):
    """Where a profile is in its life (see ARCHITECTURE.md, "Profile states")."""

    UNVERIFIED = "unverified"  # created, link issued
    IN_PROGRESS = "in_progress"  # the applicant opened the link and consented
    SUBMITTED = "submitted"  # captures complete, queued
    PROCESSING = "processing"  # claimed by a worker
    APPROVED = "approved"
    MANUAL_REVIEW = "manual_review"
    REJECTED = "rejected"
    RESUBMISSION_REQUESTED = "resubmission_requested"  # bad capture: the link works again
    EXPIRED = "expired"  # the link ran out before the applicant finished
    DOCUMENT_EXPIRED = "document_expired"  # approved, then the document ran out


S = ProfileStatus

# Captures are complete and a decision is being made.
AWAITING_DECISION = frozenset({S.SUBMITTED, S.PROCESSING})
# A worker or a reviewer reached a decision.
DECIDED = frozenset({S.APPROVED, S.MANUAL_REVIEW, S.REJECTED})
# Only a new link (asked for by the partner) starts capture again.
REOPENED_BY_NEW_LINK = frozenset({S.EXPIRED, S.DOCUMENT_EXPIRED})
# The applicant's link shows "finished": there is nothing left to capture. document_expired is
# here although a new link reopens it, because the old link must not: the partner decides
# whether the applicant captures a new document.
LINK_SHOWS_FINISHED = AWAITING_DECISION | DECIDED | {S.DOCUMENT_EXPIRED}
# A partner reusing the profile does not get a refreshed link: capture is over and the link
# would only show "finished". (For expired and document_expired the partner asks for a new link,
# which reopens the profile; a plain refresh does not.)
LINK_NOT_REFRESHED = AWAITING_DECISION | DECIDED
# Capture may still be under way: erasing the profile ends it (-> expired) in the same transaction.
ERASURE_ENDS_CAPTURE = frozenset(
    {S.UNVERIFIED, S.IN_PROGRESS, S.SUBMITTED, S.RESUBMISSION_REQUESTED}
)
# A reviewer must give a reason to reach these.
REASON_REQUIRED = frozenset({S.APPROVED, S.REJECTED})
# The moves a reviewer key makes (PATCH /api/profiles/{id}/status): decide a profile waiting in
# manual_review, or reopen a decision for resubmission (ARCHITECTURE.md). The data layer's table
# allows more, but those moves belong to the applicant (in_progress, submitted), the worker
# (processing and its outcomes) or the system (expired, document_expired): a reviewer making them
# could walk a profile that was never captured to approved. The data layer holds the same table
# (pb_hooks/lib/transitions.js REVIEWER_MOVES) for a reviewer in the admin UI; a test holds the
# two together.
REVIEWER_MOVES: dict[ProfileStatus, frozenset[ProfileStatus]] = {
    S.MANUAL_REVIEW: frozenset({S.APPROVED, S.REJECTED, S.RESUBMISSION_REQUESTED}),
    S.APPROVED: frozenset({S.RESUBMISSION_REQUESTED}),
    S.REJECTED: frozenset({S.RESUBMISSION_REQUESTED}),
}
REVIEWER_TARGETS = frozenset().union(*REVIEWER_MOVES.values())

ALL_STATUSES = tuple(status.value for status in ProfileStatus)
