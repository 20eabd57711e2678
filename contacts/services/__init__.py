"""Writes on contacts: details, labels, attributes (`contacts`), merges
(`merge`), details learned from identities (`identities`), data rights
(`rights`)."""
