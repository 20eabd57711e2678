"""One contract suite for every platform of the registry
(`channels_app.platforms.REGISTRY`), like Django's mail-backend tests.

`test_contract.py` runs the same cases over every platform's kit
(`kits/<platform>.py`, only what differs, as data): each fixture parses to its
expectation file; webhooks (handshake, good, forged and missing signature,
redelivery, malformed bodies kept and answered 400); sends through the real SDK
to the sandbox stand-in, with the platform's refusals classified as transient
or permanent in its own words. A new platform gets all of it by adding its
module, its stand-in (in `sandbox/`), its fixtures and its kit.

Expectation files (`fixtures/<platform>/<name>.expected.json`) are written from
the current parse output, for review in the diff, by

    python -m channels_app.tests.platforms.contract --write <platform> [<name>...]
"""
