"""The event contract as data (docs/contract.md): envelope, events, bounds, states and rule codes."""
