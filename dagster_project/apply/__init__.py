"""The apply step: claim queued events, fold each org's lifecycle, capture memory, report."""
