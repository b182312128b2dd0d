"""The memory layer, pure: atoms captured from events, note classification, scores and relevance."""
