"""The status groups answer their questions consistently."""

from __future__ import annotations

from gateway.statuses import (
    ALL_STATUSES,
    AWAITING_DECISION,
    DECIDED,
    ERASURE_ENDS_CAPTURE,
    LINK_NOT_REFRESHED,
    LINK_SHOWS_FINISHED,
    REOPENED_BY_NEW_LINK,
    ProfileStatus,
)

CAPTURE_OPEN = {
    ProfileStatus.UNVERIFIED,
    ProfileStatus.IN_PROGRESS,
    ProfileStatus.RESUBMISSION_REQUESTED,
}


def test_every_status_is_in_exactly_one_stage():
    stages = [CAPTURE_OPEN, AWAITING_DECISION, DECIDED, REOPENED_BY_NEW_LINK]
    for status in ProfileStatus:
        assert sum(status in stage for stage in stages) == 1, status
    assert len(ALL_STATUSES) == len(set(ALL_STATUSES)) == 10


def test_the_link_groups_differ_only_by_document_expired():
    difference = LINK_SHOWS_FINISHED - LINK_NOT_REFRESHED
    assert difference == {ProfileStatus.DOCUMENT_EXPIRED}
    assert not LINK_SHOWS_FINISHED & CAPTURE_OPEN
    # Erasing ends a capture that may still run; it never touches a decided profile.
    assert not ERASURE_ENDS_CAPTURE & DECIDED
    assert ProfileStatus("approved") == "approved"  # stored and compared as plain text
