"""eKYC gateway: partner API, hosted capture flow and verification worker on PocketBase."""
