"""Pure matching domain: hard rules, score, reasons and indexes; no I/O, no asyncio."""
