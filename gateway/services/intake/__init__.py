"""Server-to-server intake: a verification started by a back end, not by an applicant's browser.

``kyc_service`` is the KYC Service's contract (``POST /api/v1/process`` with object keys in S3,
results into its PostgreSQL); ``kyc_result`` turns a decided profile into that service's result.
Both sit on the ordinary profile machinery: one profile per ``kycId``, the same queue, worker,
pipeline, history and webhooks as a hosted-flow verification.
"""
