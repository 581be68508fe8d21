"""The notification domain, free of I/O: consent, windows, caps, digests, planning, SMS sizing."""
