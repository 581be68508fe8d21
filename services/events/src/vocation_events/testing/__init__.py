"""Test helpers of the events service: in-memory fakes of its ports."""
