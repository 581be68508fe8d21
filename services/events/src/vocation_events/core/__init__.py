"""The gateway's pure domain: partners' rights, validation, privacy split, rate limits, problems."""
