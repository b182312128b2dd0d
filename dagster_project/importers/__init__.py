"""CRM imports: Salesforce and HubSpot export files → contract events in an inbox (docs/import.md).

Dagster-free. `run.run_import` is the entry point; `tables` finds and reads object files, `salesforce`
and `hubspot` turn rows into the CRM-neutral records of `model`, `mapping` turns records into events and
`writing` writes them deterministically, with the gate window around the imported history.
"""
